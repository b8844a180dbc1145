"""`hitode status`: the node's view in plain words, for an operator who is not an engineer.

Read from the running node's `/healthz` (its address in the run file) and from the data
dir (certificates). Each line is one thing to check, with what to do when it is wrong.
"""

from __future__ import annotations

import datetime as dt
import json
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from node.ops import pki
from node.ops.spec import CA_DIR, TLS_DIR

__all__ = ["status"]

_WARN_DAYS = 30


def _health(data_dir: Path) -> tuple[dict[str, Any] | None, str]:
    try:
        run = json.loads((data_dir / "run.json").read_text())
    except (FileNotFoundError, ValueError):
        return None, f"node: not running (start it: hitode run --dir {data_dir})"
    url = str(run.get("http_url", ""))
    try:
        with urllib.request.urlopen(url + "/healthz", timeout=5) as r:
            return json.loads(r.read()), f"node: running (pid {run.get('pid')}), serving {url}"
    except (urllib.error.URLError, OSError, ValueError) as e:
        return None, f"node: not answering at {url} ({getattr(e, 'reason', e)}); is it running? see its log"


def _bus(state: str) -> str:
    return {
        "connected": "bus: connected",
        "connecting": "bus: connecting (no server answered yet); writes wait in the outbox",
        "disconnected": "bus: DISCONNECTED from its nats-server; writes wait in the outbox and go out by themselves",
        "refused": "bus: REFUSED by its nats-server: check [nats] user and password in config.toml",
    }.get(state, f"bus: {state}")


def _cert(label: str, path: Path, now: dt.datetime) -> str | None:
    until = pki.expiry(path)
    if until is None:
        return None
    days = (until - now).days
    word = "EXPIRED" if days < 0 else f"RENEW SOON ({days} days left)" if days < _WARN_DAYS else f"{days} days left"
    return f"{label}: valid until {until:%Y-%m-%d} ({word})"


def status(data_dir: Path) -> tuple[list[str], bool]:
    """The lines to print, and whether everything looks fine."""
    health, first = _health(data_dir)
    lines, fine = [first], health is not None
    if health is not None:
        lag = health.get("replica_lag", {})
        behind = sum(int(v) for k, v in lag.items() if k != "pending")
        peers = health.get("peers_online", [])
        lines += [
            _bus(str(health.get("bus"))),
            f"peers online: {len(peers)}" + (f" ({', '.join(peers)})" if peers else " (none seen lately)"),
            f"lag: {behind} record(s) on the bus not yet read, {lag.get('pending', 0)} held behind a gap "
            "(repaired from peers by itself)",
            f"outbox: {health.get('outbox_backlog', 0)} record(s) waiting to be sent",
            f"quarantine: {health.get('quarantined', 0)} record(s) refused (see GET /api/quarantine)",
            f"alerts: {health.get('alerts', 0)}" + (" (read GET /api/alerts)" if health.get("alerts") else ""),
        ]
        fine = fine and health.get("bus") == "connected" and not health.get("alerts")
    now = dt.datetime.now(dt.UTC)
    for label, path in (("server certificate", data_dir / TLS_DIR / "server.crt"),
                        ("CA certificate", data_dir / TLS_DIR / "ca.crt"),
                        ("CA kept here", data_dir / CA_DIR / "ca.crt")):
        line = _cert(label, path, now)
        if line is not None:
            lines.append(line)
            fine = fine and "EXPIRED" not in line and "RENEW" not in line
    return lines, fine
