"""What a node does with requests, offers and referrals from peers, on a real SQLite file:
a peer's request is indexed with it; a stray offer or a request under another's name is refused."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import msgspec
import pytest

from node.federation import records
from node.federation.identity import Identity
from node.federation.intake import Rejection
from node.members import rules as members
from node.members import skills
from node.requests import book, offers
from node.requests.rules import check_record
from node.store import Store, Tx
from schemas.envelope import Header
from schemas.request import HelpRequest, Offer, RequestFilters

NOW = dt.datetime.now(dt.UTC)


def _header(author: str, channel: str, kind: str, record_id: str, version: int = 1) -> Header:
    return Header(id=f"h-{record_id}-{version}", author=author, channel=channel, seq=1, prev=b"", kind=kind,
                  record_id=record_id, version=version, created_at=NOW)


def _request(space: str, rid: str, **over: object) -> HelpRequest:
    base = HelpRequest(id=rid, space=space, kind="help", title="会計を見てほしい", skills=["経理"],
                       deadline=NOW + dt.timedelta(days=3), reward="barter", created_at=NOW)
    return msgspec.structs.replace(base, **over)


def _apply(tx: Tx, ident: Identity, req: HelpRequest, version: int = 1) -> None:
    """As the applier does: the record row, then the kind's reaction, in one transaction."""
    records.put(tx, author=req.space, kind="request", record_id=req.id, channel="pub", version=version,
                body=msgspec.msgpack.encode(req), hash=b"")
    book.on_request(tx, ident, _header(req.space, "pub", "request", req.id, version), req, b"")


async def test_a_peers_request_is_searchable_and_its_new_version_replaces_the_old(tmp_path: Path) -> None:
    ident = Identity.generate("kobe")
    async with Store(tmp_path / "kobe.db", [("members", members.MIGRATIONS), ("requests", book.MIGRATIONS)]) as store:
        syn = await skills.load(store)
        await store.transact(lambda tx: _apply(tx, ident, _request("sapporo", "r1")))
        found = await book.listing(store, RequestFilters(text="会計"), NOW, syn)
        assert [r["id"] for r in found] == ["r1"]
        assert [r["id"] for r in await book.listing(store, RequestFilters(skill="accounting"), NOW, syn)] == ["r1"]
        await store.transact(lambda tx: _apply(tx, ident, _request("sapporo", "r1", title="映像の編集", skills=["動画"],
                                                                   status="closed"), 2))
        assert await book.listing(store, RequestFilters(text="会計"), NOW, syn) == []
        assert await book.listing(store, RequestFilters(skill="accounting"), NOW, syn) == []
        (got,) = await book.listing(store, RequestFilters(text="映像", status="closed"), NOW, syn)
        assert (got["id"], got["version"]) == ("r1", 2)


async def test_an_offer_for_a_request_that_is_not_ours_is_refused_and_kept_nowhere(tmp_path: Path) -> None:
    ident = Identity.generate("kobe")
    async with Store(tmp_path / "kobe.db", [("members", members.MIGRATIONS), ("requests", book.MIGRATIONS)]) as store:
        await store.transact(lambda tx: _apply(tx, ident, _request("hakodate", "theirs")))
        for request_id in ("theirs", "unknown"):
            offer = Offer(author="sapporo", to="kobe", record_id=f"o-{request_id}", version=1, request_id=request_id,
                          kind="offer")

            def unit(tx: Tx, o: Offer = offer) -> None:
                offers.on_offer(tx, ident, _header("sapporo", "kobe", "offer", o.record_id), o, b"")

            with pytest.raises(Rejection):
                await store.transact(unit)
        assert await store.scalar("SELECT count(*) FROM request_offers") == 0


def test_a_request_under_another_spaces_name_or_id_is_refused() -> None:
    req = _request("sapporo", "r1")
    check_record(_header("sapporo", "pub", "request", "r1"), req, b"")
    with pytest.raises(Rejection):
        check_record(_header("hakodate", "pub", "request", "r1"), req, b"")
    with pytest.raises(Rejection):
        check_record(_header("sapporo", "pub", "request", "r2"), req, b"")
