"""Rotating a space's keys: a record signed by the old key names the new one (DESIGN §4).

Done with the node stopped (`hitode rotate-keys`). The new keys are written beside the old
ones first (`*.next`), the rotation record commits to the outbox, and only then do the new
files replace the old (kept as `*.old-<time>`). A crash at any point is finished or undone
at the next start by `finish`, so the node never signs with a key its peers will refuse.
"""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path
from typing import Final

import msgspec

from node.federation import outbox, records
from node.federation.identity import BOX_FILE, SIGNING_FILE, Identity
from node.federation.intake import Rejection
from node.federation.kinds import Kind
from node.store import Store, Tx
from schemas.envelope import PUB, Header
from schemas.space import KeyRotation

__all__ = ["rotate", "finish", "ROTATION"]

log = logging.getLogger(__name__)
KIND: Final = "rotation"


def _check_rotation(h: Header, body: msgspec.Struct, signer: bytes) -> None:
    assert isinstance(body, KeyRotation)
    if body.space != h.author or h.record_id != h.author:
        raise Rejection("header_mismatch", "a key rotation must name its author", author=h.author)


# Applied by the replica itself (it moves the pin), in chain order with the space's records.
ROTATION: Final = Kind(name=KIND, body=KeyRotation, check=_check_rotation, summary="a space's next keys")


def _next(path: Path) -> Path:
    return path.with_name(path.name + ".next")


def _files(data_dir: Path) -> list[Path]:
    return [data_dir / SIGNING_FILE, data_dir / BOX_FILE]


def _promote(data_dir: Path) -> None:
    stamp = time.strftime("%Y%m%d%H%M%S")
    for cur in _files(data_dir):
        nxt = _next(cur)
        if nxt.exists():
            keep = cur.with_name(f"{cur.name}.old-{stamp}")
            if not keep.exists():
                os.link(cur, keep)  # the old key stays readable for the operator's records
            os.replace(nxt, cur)  # atomic: the file is the old key or the new, never neither


async def rotate(data_dir: Path, store: Store, space: str) -> Identity:
    old = Identity.load(space, data_dir)
    signing, box = (_next(p) for p in _files(data_dir))
    if signing.exists() and box.exists():
        new = Identity.load_files(space, signing, box)  # an earlier attempt stopped half-way
    else:
        for p in (signing, box):
            p.unlink(missing_ok=True)
        new = Identity.generate(space)
        new.write_files(signing, box)

    def unit(tx: Tx) -> None:
        held = records.get_in(tx, space, KIND, space, KeyRotation)
        if held is None or held[0].sign_key != new.sign_key:
            version = (held[1] if held else 0) + 1
            heads = {str(r[0]): int(r[1]) for r in tx.all("SELECT channel, seq FROM chains WHERE author = ?", (space,))}
            heads[PUB] = heads.get(PUB, 0) + 1  # this rotation itself is the old key's last pub record
            body = KeyRotation(space=space, sign_key=new.sign_key, box_key=new.box_key, heads=heads)
            outbox.append(tx, old, kind=KIND, record_id=space, version=version, body=body)

    await store.transact(unit)
    _promote(data_dir)
    log.info("rotation: %s now signs with a new key; peers follow when they apply the rotation", space)
    return new


async def finish(data_dir: Path, store: Store, space: str) -> None:
    """Complete a rotation whose record committed, or drop one that never did."""
    pending = [_next(p) for p in _files(data_dir) if _next(p).exists()]
    if not pending:
        return
    held = await records.get(store, space, KIND, space, KeyRotation)
    signing = _next(data_dir / SIGNING_FILE)
    key_file = signing if signing.exists() else data_dir / SIGNING_FILE
    named = Identity.load_files(space, key_file, data_dir / BOX_FILE).sign_key
    if held is not None and held[0].sign_key == named:
        _promote(data_dir)
        log.warning("rotation: finished a key rotation that was interrupted")
    else:
        for p in pending:
            p.unlink()
        log.warning("rotation: dropped new keys of a rotation that never committed")


