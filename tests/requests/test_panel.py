"""The today page's requests panel: what asks for the operator's answer, at each space."""

from __future__ import annotations

from pathlib import Path

from node.bus.cluster import NatsCluster
from tests.eventually import eventually
from tests.events.operator import operator
from tests.requests.test_requests import has_request, member, web_request
from tests.spaces import spaces_for


async def test_sapporos_today_page_lists_kobes_request_its_members_fit_and_kobe_sees_the_offer_count(
    tmp_path: Path, nats_cluster: NatsCluster
) -> None:
    """Kobe asks for web work; sapporo has two members who fit: its today panel says so (in
    Japanese and English), a request that fits nobody is left out, and kobe's panel lists its
    own open request with the one offer it received."""
    async with spaces_for(tmp_path, ["kobe", "sapporo"], lambda n: nats_cluster[n].client_url, replicas=3) as spaces:
        kobe, sapporo = spaces
        a = await member(sapporo, "札幌 一郎", ["web制作"])
        await member(sapporo, "札幌 二郎", ["ウェブ開発"])
        req = await kobe.post("/api/requests", web_request())
        other = await kobe.post("/api/requests", web_request(title="漁船の修理", skills=["船舶整備"]))
        await eventually(lambda: has_request(sapporo, other["id"]), timeout=30)
        await eventually(lambda: has_request(sapporo, req["id"]), timeout=30)
        async with operator(sapporo, "ja") as op:
            panel = (await op.page("/")).split('id="panel-requests"')[1]
            assert "ウェブサイト制作を手伝ってくれる人" in panel and "合いそうな会員 2 人" in panel
            assert "漁船の修理" not in panel
        async with operator(sapporo, "en") as op:
            panel = (await op.page("/")).split('id="panel-requests"')[1]
            assert "Open requests our members fit" in panel and "2 matching members" in panel
        await eventually(lambda: sapporo.space_version("kobe"), timeout=30)
        await sapporo.post(f"/api/requests/{req['id']}/offers", {"member": a})

        async def offered() -> bool:
            async with operator(kobe, "ja") as op:
                panel = (await op.page("/")).split('id="panel-requests"')[1]
                return "うちの募集中の依頼" in panel and "申し出 1 件" in panel

        await eventually(offered, timeout=30)
