"""deploy/ holds server configs that nats-server itself accepts."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from node.embedded_nats import find_binary

DEPLOY = Path(__file__).resolve().parent.parent / "deploy"


@pytest.mark.parametrize("conf", sorted(DEPLOY.rglob("*.conf")), ids=lambda p: str(p.relative_to(DEPLOY)))
def test_nats_server_accepts_the_config(conf: Path) -> None:
    """`nats-server -t` parses every config we ship (with its placeholders filled in)."""
    r = subprocess.run(
        [find_binary(), "-t", "-c", str(conf)], capture_output=True, text=True, timeout=30,
        env={"KOBE_PASSWORD": "s3cret"},
    )
    assert r.returncode == 0, r.stdout + r.stderr
