"""A small visa federation: kobe, sapporo and hakodate as real `hitode run` processes on one
real nats-server, a member of kobe with a pass, and a listener that keeps every message
the bus carries (for the privacy check)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import nats
import pytest_asyncio
from nats.aio.msg import Msg

from node.bus.embedded import EmbeddedNats
from tests.eventually import eventually
from tests.spaces import Space, spaces_for

MEMBER = {"name": "山田 花子", "email": "hanako@example.jp", "share_name": False, "skills": ["design"]}


class Wiretap:
    """Every message on the bus, subjects, headers and payloads, as the hub operator sees them."""

    def __init__(self) -> None:
        self.messages: list[tuple[str, bytes]] = []

    async def take(self, msg: Msg) -> None:
        headers = "".join(f"{k}:{v}" for k, v in (msg.headers or {}).items())
        self.messages.append((msg.subject, msg.data + headers.encode()))

    def leaks(self, *secrets: str) -> list[str]:
        found = []
        for subject, data in self.messages:
            for s in secrets:
                for form in {s.encode(), s.encode("utf-16-le"), s.encode("utf-16-be")}:
                    if form in data or form in subject.encode():
                        found.append(f"{s!r} in {subject}")
        return found


@pytest_asyncio.fixture
async def wiretap(nats_server: EmbeddedNats) -> AsyncIterator[Wiretap]:
    tap = Wiretap()
    nc = await nats.connect(nats_server.client_url)
    await nc.subscribe(">", cb=tap.take)
    try:
        yield tap
    finally:
        await nc.close()


@pytest_asyncio.fixture
async def trio(tmp_path: Path, nats_server: EmbeddedNats, wiretap: Wiretap) -> AsyncIterator[list[Space]]:
    names = ["kobe", "sapporo", "hakodate"]
    async with spaces_for(tmp_path, names, lambda n: nats_server.client_url) as spaces:
        for s in spaces:
            for other in names:
                if other != s.id:
                    await eventually(lambda s=s, other=other: known(s, other), timeout=60, interval=0.2)
        yield spaces


@pytest_asyncio.fixture
async def pair(tmp_path: Path, nats_server: EmbeddedNats) -> AsyncIterator[tuple[Space, Space]]:
    """kobe and sapporo only, each knowing the other."""
    async with spaces_for(tmp_path, ["kobe", "sapporo"], lambda n: nats_server.client_url) as (kobe, sapporo):
        await eventually(lambda: known(sapporo, "kobe"), timeout=60, interval=0.2)
        await eventually(lambda: known(kobe, "sapporo"), timeout=60, interval=0.2)
        yield kobe, sapporo


async def known(space: Space, other: str) -> bool:
    try:
        await space.get(f"/api/spaces/{other}")
    except Exception:  # noqa: BLE001 - not there yet
        return False
    return True


async def member_with_pass(kobe: Space, member: dict[str, Any] | None = None) -> tuple[str, dict[str, Any]]:
    m = await kobe.post("/api/members", member or MEMBER)
    p = await kobe.post(f"/api/members/{m['id']}/passes", {"days": 30})
    return m["id"], p


async def set_policy(space: Space, **policy: Any) -> None:
    await space.request("PATCH", "/api/space", {"visa_policy": policy})
