"""Quarantine and alerts: where a refused record goes, with its reason, and what the operator is told.

A record refused again only counts up (one row per distinct message and reason), and the
table is bounded, so a peer that floods the bus with garbage costs a few rows, not the disk.
"""

from __future__ import annotations

import hashlib
import logging
import time
from typing import Final

from node.federation.intake import Incoming, Rejection, subject_author
from node.metrics import Metrics
from node.store import Tx

__all__ = ["quarantine", "alert", "QUARANTINE_ROWS", "REFUSED"]

log = logging.getLogger(__name__)
QUARANTINE_ROWS: Final = 10_000
REFUSED: Final = "refused"  # the commit topic of a record quarantined or an alert raised (or seen again)


def quarantine(tx: Tx, metrics: Metrics, item: Incoming, r: Rejection) -> None:
    """One row per distinct refused message: a record refused again only counts up."""
    metrics.quarantined.labels(reason=r.reason).inc()
    tx.notify(REFUSED)
    author = r.author or (subject_author(item.subject) if item.subject else "")
    if r.alert:
        alert(tx, metrics, r.alert, author, r.detail)
    digest = hashlib.sha256(item.data).digest()
    reason = f"{r.reason}: {r.detail}"
    cur = tx.execute(
        "UPDATE quarantine SET seen = seen + 1, at = ? WHERE digest = ? AND reason = ?",
        (time.time(), digest, reason),
    )
    if cur.rowcount:
        return
    log.warning("replica: quarantined a record from %s on %s: %s", author or "?", item.subject, r)
    tx.execute(
        "INSERT INTO quarantine (at, source, subject, author, reason, raw, digest, seen)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, 1)",
        (time.time(), item.source, item.subject or "", author, reason, item.data[:70_000], digest),
    )
    # Bounded: the newest rows are kept.
    tx.execute("DELETE FROM quarantine WHERE id <= (SELECT max(id) FROM quarantine) - ?", (QUARANTINE_ROWS,))


def alert(tx: Tx, metrics: Metrics, kind: str, space: str, message: str) -> None:
    tx.notify(REFUSED)
    cur = tx.execute(
        "UPDATE alerts SET seen = seen + 1, at = ? WHERE kind = ? AND space = ? AND message = ?",
        (time.time(), kind, space, message),
    )
    if cur.rowcount:
        return
    metrics.alerts.labels(kind=kind).inc()
    log.error("ALERT %s from %s: %s", kind, space, message)
    tx.execute("INSERT INTO alerts (at, kind, space, message, seen) VALUES (?, ?, ?, ?, 1)",
               (time.time(), kind, space, message))
