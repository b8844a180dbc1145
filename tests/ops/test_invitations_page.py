"""The Invitations page (招待) in chromium: kobe's operator, on a hub of three servers on
loopback (each its own nats-server from the spec `hitode nats-config` writes, routes over
TLS) whose node runs the join desk, makes an invitation in Japanese; a real `hitode join`
redeems the line shown, and the list then says which space used it. A revoked invitation
is refused by the join desk saying so, and the page shows it revoked. A space that is not
that hub explains who invites and shows no form.
"""

from __future__ import annotations

import asyncio
import re
import subprocess
import time
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
import pytest_asyncio
from playwright.async_api import Browser, Page, expect

from node.bus.binary import find_binary
from node.bus.embedded import EmbeddedNats
from node.config import load_config
from node.ops import pki
from node.ops.configure import point_node_at
from node.ops.natsconf import write_conf
from node.ops.spec import Member, ServerSpec, load_spec, new_password, save_spec
from tests.deploy.hosts import hitode
from tests.eventually import eventually
from tests.net import free_port
from tests.spaces import HttpError, Space
from tests.web.browser import LAPTOP, PHONE, axe_violations, chromium, overflow, screenshot, signed_in
from tests.web.camera import png_luma

pytestmark = [pytest.mark.asyncio(loop_scope="module"), pytest.mark.timeout(300)]

HUB = ("kobe", "sapporo", "hakodate")
JSQR = Path(__file__).resolve().parents[2] / "node" / "web" / "static" / "jsQR-1.4.0.js"


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def browser() -> AsyncIterator[Browser]:
    async with chromium() as b:
        yield b


async def _healthy(port: int) -> bool:
    async with aiohttp.ClientSession() as http:
        async with http.get(f"http://127.0.0.1:{port}/healthz") as r:
            return r.status == 200


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def kobe(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Space]:
    """kobe's node on a hub cluster of three servers on loopback; kobe keeps the CA and a join desk."""
    base = tmp_path_factory.mktemp("invitations")
    ca = base / "kobe" / "ca"
    pki.init_ca(ca)
    ports = {n: {k: free_port() for k in ("client", "monitor", "cluster", "leaf")} for n in HUB}
    space = Space(base / "kobe", "kobe", f"nats://127.0.0.1:{ports['kobe']['client']}")
    procs: list[asyncio.subprocess.Process] = []
    try:
        for name in HUB:
            pki.issue(ca, base / name / "tls", name=name, hosts=["127.0.0.1"])
            p = ports[name]
            spec = ServerSpec(
                space=name, topology="hub", address="127.0.0.1", client_port=p["client"],
                monitor_port=p["monitor"], cluster_port=p["cluster"], leaf_port=p["leaf"],
                members=[Member(space=m, host="127.0.0.1", port=ports[m]["cluster"]) for m in HUB if m != name],
                join_address=f"127.0.0.1:{free_port()}" if name == "kobe" else "",
                node_password=new_password(), admin_password=new_password())
            save_spec(base / name, spec)
            conf = write_conf(spec, base / name)
            with (base / name / "nats-stdout.log").open("ab") as out:
                procs.append(await asyncio.create_subprocess_exec(
                    find_binary(), "-c", str(conf), stdin=asyncio.subprocess.DEVNULL, stdout=out, stderr=out))
        for name in HUB:
            await eventually(lambda: _healthy(ports[name]["monitor"]), timeout=60, interval=0.3)
        point_node_at(space.dir, load_config(space.dir), load_spec(space.dir))
        await asyncio.to_thread(hitode, None, "nats-stream", "--dir", space.dir)
        await space.start()
        yield space
    finally:
        await space.close()
        for proc in procs:
            if proc.returncode is None:
                proc.terminate()
                await proc.wait()


async def _join(line: str, data_dir: Path, space: str) -> subprocess.CompletedProcess[str]:
    """`hitode join` as the invited operator types it, on their own machine (a folder here)."""
    return await asyncio.to_thread(hitode, None, "join", line, "--dir", data_dir, "--space", space, "--name",
                                   f"{space.title()} Coworking", "--address", "127.0.0.1", "--http-port", "0",
                                   ok=False)


async def _make(page: Page, validity: str) -> str:
    """Make an invitation on the page; the line it shows."""
    await page.get_by_label("有効期間").select_option(label=validity)
    await page.get_by_role("button", name="招待を作る").click()
    await expect(page.locator("#h-made")).to_have_text("作成した招待")
    line = await page.get_by_label("招待", exact=True).input_value()
    assert line.startswith("hitode-invite:"), line
    return line


async def _qr_text(page: Page) -> str | None:
    """What a QR reader (jsQR, the desk scanner's) reads from the code the page draws, taken
    at six pixels a module (a phone held close to a screen sees more than that)."""
    code = page.locator("#invite-qr svg")
    modules = int((await code.get_attribute("viewBox") or "0 0 0 0").split()[2]) // 3  # drawn at scale 3
    await code.evaluate("(el, side) => { el.style.width = el.style.height = side + 'px'; el.style.maxWidth = 'none'; }",
                        modules * 6)
    width, height, grey = png_luma(await code.screenshot())
    await page.add_script_tag(url="/static/jsQR-1.4.0.js")
    found: str | None = await page.evaluate(
        """([w, h, grey]) => {
             const rgba = new Uint8ClampedArray(w * h * 4);
             for (let i = 0; i < w * h; i++) { rgba.set([grey[i], grey[i], grey[i], 255], i * 4); }
             const code = jsQR(rgba, w, h);
             return code ? code.data : null;
           }""", [width, height, list(grey)])
    return found


async def test_the_hub_operator_invites_a_space_on_the_page_and_the_list_shows_it_used(
        kobe: Space, browser: Browser, tmp_path: Path) -> None:
    """In Japanese: a validity the form does not offer is refused beside its field; then a
    day's invitation: its line (copied with the button), its QR code and what the new
    space's operator does. osaka's operator redeems the line with `hitode join`; the list
    then says osaka used it, and the line is never shown again."""
    async with signed_in(browser, kobe.url, kobe.token) as (context, page):
        await page.get_by_role("link", name="招待", exact=True).click()
        await expect(page.locator("h1")).to_have_text("招待")
        await expect(page.locator("#invitations")).to_have_count(0)
        await expect(page.get_by_text("まだ招待を作っていません。")).to_be_visible()

        await page.locator("#f-days option").first.evaluate("o => { o.value = '5'; }")
        await page.get_by_label("有効期間").select_option(value="5")
        await page.get_by_role("button", name="招待を作る").click()
        await expect(page.locator("#e-days")).to_have_text("招待の有効期間を選んでください。")
        await expect(page.get_by_label("有効期間")).to_have_attribute("aria-invalid", "true")
        await expect(page.locator("#made")).to_have_count(0)
        await expect(page.locator("#invitations")).to_have_count(0)

        line = await _make(page, "1日間")
        await expect(page.locator("#made")).to_contain_text("招待が表示されるのは今回だけです")
        await expect(page.locator("#made .command")).to_contain_text(f"hitode join '{line}' --dir")
        await context.grant_permissions(["clipboard-read", "clipboard-write"])
        await page.get_by_role("button", name="コピー", exact=True).click()
        await expect(page.locator("#invite-line-status")).to_have_text("コピーしました")
        assert await page.evaluate("navigator.clipboard.readText()") == line
        for size in (PHONE, LAPTOP):  # the new invitation, its code and the instructions fit a phone
            await page.set_viewport_size(size)  # type: ignore[arg-type]
            assert await overflow(page) == 0, size
            assert not await axe_violations(page), size
            await screenshot(page, "/invitations/made", "ja", size["width"])
        assert await _qr_text(page) == line
        await expect(page.locator("#invitations tbody tr")).to_have_count(1)
        await expect(page.locator("#invitations tbody tr").first).to_contain_text("未使用")

        joined = await _join(line, tmp_path / "osaka", "osaka")
        assert joined.returncode == 0, joined.stdout + joined.stderr
        assert "osaka joined as a leaf of the hub" in joined.stdout, joined.stdout
        assert load_spec(tmp_path / "osaka").topology == "leaf"

        await page.get_by_role("link", name="招待", exact=True).click()
        row = page.locator("#invitations tbody tr").first
        await expect(row).to_contain_text("osaka が使用済み")
        await expect(row.get_by_role("link", name="取り消す…")).to_have_count(0)
        assert line not in await page.content()
        assert line.split(":", 1)[1][:40] not in await page.content()

        await page.get_by_role("link", name="English").click()
        await expect(page.locator("#invitations tbody tr").first).to_contain_text("Used by osaka on")

    again = await _join(line, tmp_path / "mallory", "mallory")
    assert again.returncode == 1 and "already used (by osaka" in again.stderr, again.stderr


async def test_a_revoked_invitation_is_refused_by_the_join_desk_saying_so_and_the_page_shows_it_revoked(
        kobe: Space, browser: Browser, tmp_path: Path) -> None:
    """A week's invitation, revoked after the page that says what revoking does (keeping it
    first changes nothing); `hitode join` with its line is refused: revoked by the hub's
    operator, nothing written. The list says revoked and offers no second revoke; one made
    with `hitode invite` for a second and left to expire is listed expired, not revocable."""
    out = (await asyncio.to_thread(hitode, None, "invite", "--dir", kobe.dir, "--expires", "1s")).stdout
    short = out.strip().splitlines()[-1]
    deadline = time.time() + 1.5  # the invitation's own clock, not a race
    async with signed_in(browser, kobe.url, kobe.token) as (_, page):
        await page.goto(kobe.url + "/invitations")
        line = await _make(page, "7日間")
        row = page.locator("#invitations tbody tr").first
        await expect(row).to_contain_text("未使用")
        await row.get_by_role("link", name="取り消す…").click()
        await expect(page.locator("h1")).to_have_text("この招待を取り消す")
        assert not await axe_violations(page)
        await page.get_by_role("link", name="取り消さない").click()
        await expect(page.locator("#invitations tbody tr").first).to_contain_text("未使用")

        await page.locator("#invitations tbody tr").first.get_by_role("link", name="取り消す…").click()
        revoke = page.get_by_role("button", name="招待を取り消す")
        await revoke.focus()
        await page.keyboard.press("Enter")
        await expect(page.locator(".notice")).to_have_text("招待を取り消しました。この招待ではもう誰も参加できません。")
        row = page.locator("#invitations tbody tr").first
        await expect(row).to_contain_text(re.compile(r"取り消し済み"))
        await expect(row.get_by_role("link", name="取り消す…")).to_have_count(0)
        await eventually(lambda: time.time() > deadline, timeout=5)
        await page.reload()
        expired = page.locator("#invitations tbody tr").nth(1)
        await expect(expired).to_contain_text("使われないまま期限切れ")
        await expect(expired.get_by_role("link", name="取り消す…")).to_have_count(0)
        assert short not in await page.content()

    refused = await _join(line, tmp_path / "nara", "nara")
    assert refused.returncode == 1, refused.stdout + refused.stderr
    assert "kobe refused the invitation" in refused.stderr and "revoked by the hub's operator" in refused.stderr, \
        refused.stderr
    assert not (tmp_path / "nara" / "server.toml").exists()


async def test_a_space_that_is_not_the_hub_explains_who_invites_and_shows_no_form(
        browser: Browser, tmp_path: Path) -> None:
    """nagoya runs no hub server: its Invitations page says in words that the hub's operator
    makes invitations, in both languages, with no form to make one."""
    async with EmbeddedNats(store_dir=tmp_path / "nats", name="nagoya") as server:
        nagoya = Space(tmp_path / "nagoya", "nagoya", server.client_url)
        await nagoya.start()
        try:
            async with signed_in(browser, nagoya.url, nagoya.token) as (_, page):
                await page.get_by_role("link", name="招待", exact=True).click()
                await expect(page.locator("#not-hub")).to_contain_text("ハブのスペース")
                await expect(page.locator("#not-hub")).to_contain_text("招待は作れません")
                await expect(page.locator("form[action='/invitations']")).to_have_count(0)
                await expect(page.get_by_label("有効期間")).to_have_count(0)
                await page.get_by_role("link", name="English").click()
                await expect(page.locator("#not-hub")).to_contain_text(
                    "Invitations to join the federation are made by the operator of the hub space")
        finally:
            await nagoya.close()


async def test_a_script_lists_and_revokes_invitations_over_the_api(kobe: Space, tmp_path: Path) -> None:
    """What the page does, over the HTTP API with the operator token: an invitation made is
    listed open (never its line); revoked, it is listed revoked, a second revoke is refused
    (409), an unknown one is 404, and the join desk refuses its line."""
    made = await kobe.post("/api/invitations", {"expires_in": 3600})
    listed = (await kobe.get("/api/invitations"))["invitations"]
    assert [(i["id"], i["state"]) for i in listed][:1] == [(made["id"], "open")]
    assert made["invitation"] not in str(listed)
    revoked = await kobe.post(f"/api/invitations/{made['id']}/revoke", {})
    assert (revoked["id"], revoked["state"]) == (made["id"], "revoked") and revoked["revoked_at"]
    with pytest.raises(HttpError) as again:
        await kobe.post(f"/api/invitations/{made['id']}/revoke", {})
    assert again.value.status == 409
    with pytest.raises(HttpError) as unknown:
        await kobe.post("/api/invitations/nobody-made-this/revoke", {})
    assert unknown.value.status == 404
    refused = await _join(made["invitation"], tmp_path / "nara", "nara")
    assert refused.returncode == 1 and "revoked by the hub's operator" in refused.stderr, refused.stderr
