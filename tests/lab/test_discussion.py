"""A theme discussed across three spaces (issue 21): real nodes kobe, sapporo and hakodate
on one real nats-server, read and written only over HTTP."""

from __future__ import annotations

from pathlib import Path

from node.bus.embedded import EmbeddedNats
from tests.eventually import eventually
from tests.lab.scene import REPORT, discuss, lab, shown
from tests.spaces import converged


async def test_a_theme_opened_at_hakodate_with_posts_a_reply_and_a_report_reads_the_same_at_every_node(
        tmp_path: Path, nats_server: EmbeddedNats) -> None:
    """hakodate opens a theme, kobe and sapporo post, hakodate replies to kobe, sapporo reports
    an experiment: every node shows the same theme, posts in the order written, the reply
    under kobe's post, the report with its numbers, each with its author."""
    async with lab(tmp_path, nats_server.client_url) as fed:
        d = await discuss(fed)
        seen = [await s.get(f"/api/lab/themes/{d.theme}", auth=False) for s in fed.all]
        for theme in seen:
            assert (theme["space"], theme["space_name"], theme["title"]) == ("hakodate", "Hakodate Coworking", "学生料金をどうする?")
            assert shown(theme) == [
                ("kobe", "", "神戸では平日昼の学生割を試しました。", [("hakodate", "", "神戸さん、告知はどうしましたか?")]),
                ("sapporo", "", "札幌は金曜に学生半額デーをやります。", []),
            ]
            assert [p["space_name"] for p in theme["posts"]] == ["Kobe Coworking", "Sapporo Coworking"]
            (report,) = theme["reports"]
            assert (report["space"], report["title"], report["numbers"]) == ("sapporo", REPORT["title"], REPORT["numbers"])
            assert report["cost"] == REPORT["cost"] and report["links"] == REPORT["links"]
        assert seen[0] == seen[1] == seen[2]
        for s in fed.all:
            (listed,) = (await s.get("/api/lab/themes", auth=False))["themes"]
            assert (listed["id"], listed["posts"], listed["reports"]) == (d.theme, 3, 1)


async def test_a_retraction_by_its_author_reaches_every_node_and_its_text_is_gone(
        tmp_path: Path, nats_server: EmbeddedNats) -> None:
    """kobe retracts its post: every node holds the retracted version, with no text left,
    and the reply under it stays; kobe's edit before that had reached every node too."""
    async with lab(tmp_path, nats_server.client_url) as fed:
        d = await discuss(fed)
        edited = await fed.kobe.request("PATCH", f"/api/lab/posts/{d.kobe_post}", {"body": "神戸では平日昼の学生割(半額)を試しました。"})
        assert edited["version"] == 2
        await converged(fed.all, timeout=60)
        for s in fed.all:
            assert (await s.get(f"/api/lab/posts/{d.kobe_post}"))["body"] == "神戸では平日昼の学生割(半額)を試しました。"
        gone = await fed.kobe.post(f"/api/lab/posts/{d.kobe_post}/retract", None)
        assert (gone["status"], gone["body"], gone["version"]) == ("retracted", "", 3)
        await converged(fed.all, timeout=60)
        for s in fed.all:
            post = (await s.get(f"/api/lab/themes/{d.theme}"))["posts"][0]
            assert (post["id"], post["status"], post["body"], post["version"]) == (d.kobe_post, "retracted", "", 3)
            assert [r["id"] for r in post["replies"]] == [d.reply]
            assert (await s.get("/api/lab/search?q=平日昼"))["results"] == []


async def test_a_node_offline_during_the_discussion_shows_all_of_it_after_it_returns(
        tmp_path: Path, nats_server: EmbeddedNats) -> None:
    """kobe is stopped before the theme is opened; the whole discussion happens without it;
    when kobe comes back it shows the same theme, posts, reply and report as the others."""
    async with lab(tmp_path, nats_server.client_url) as fed:
        await fed.kobe.stop()
        theme = (await fed.hakodate.post("/api/lab/themes", {"title": "空き店舗の活用", "question": "商店街の空き店舗で何ができる?"}))["id"]
        await eventually(lambda: fed.sapporo.get(f"/api/lab/themes/{theme}"), timeout=30)
        first = (await fed.sapporo.post(f"/api/lab/themes/{theme}/posts", {"body": "札幌では週末だけ出張コワーキングを開きました。"}))["id"]
        await eventually(lambda: fed.hakodate.get(f"/api/lab/posts/{first}"), timeout=30)
        await fed.hakodate.post(f"/api/lab/themes/{theme}/posts", {"body": "函館でもやってみたい。", "reply_to": first})
        await fed.sapporo.post(f"/api/lab/themes/{theme}/reports", REPORT)
        await converged([fed.sapporo, fed.hakodate], timeout=60)
        expected = await fed.hakodate.get(f"/api/lab/themes/{theme}")
        assert len(expected["posts"]) == 1 and len(expected["posts"][0]["replies"]) == 1 and len(expected["reports"]) == 1

        await fed.kobe.start()
        await converged(fed.all, timeout=90)
        assert await fed.kobe.get(f"/api/lab/themes/{theme}") == expected


async def test_a_search_for_a_japanese_word_finds_the_report_at_every_node(
        tmp_path: Path, nats_server: EmbeddedNats) -> None:
    """Words of the report, of two characters too (学生, 告知), and longer ones (稼働率),
    find it at every node; a word it does not hold finds nothing."""
    async with lab(tmp_path, nats_server.client_url) as fed:
        d = await discuss(fed)
        for s in fed.all:
            for word in ("学生半額", "稼働率", "告知", "掲示板"):
                got = (await s.get(f"/api/lab/search?q={word}", auth=False))["results"]
                assert d.report in [r["id"] for r in got], (s.id, word, got)
            kinds = {r["id"]: r["kind"] for r in (await s.get("/api/lab/search?q=学生"))["results"]}
            assert kinds[d.report] == "report" and kinds[d.theme] == "theme" and kinds[d.sapporo_post] == "post"
            assert (await s.get("/api/lab/search?q=映像"))["results"] == []
