"""Admitting a space to the hub as a leaf, in the order that leaves nothing half-done
for the space: its certificate, its user (spec, config, reload of the running server),
then its subjects in stream HITODE (DESIGN §8: in the same step as the user).
"""

from __future__ import annotations

import os
import signal
from pathlib import Path

import msgspec

from node.errors import Conflict, NatsServerError
from node.ops.natsconf import PID_FILE, write_conf
from node.ops.pki import sign_csr
from node.ops.spec import CA_DIR, LeafSpace, load_spec, new_password, save_spec
from node.ops.stream import ensure_stream

__all__ = ["admit_leaf", "after_admission", "reload_server"]


def admit_leaf(data_dir: Path, space: str, csr: bytes) -> tuple[bytes, str, list[str]]:
    """Sign the space's server certificate and give it a user on this hub server.

    Returns (certificate PEM, the user's password, the hub's leaf addresses)."""
    spec = load_spec(data_dir)
    taken = {spec.space, *(m.space for m in spec.members), *(leaf.space for leaf in spec.leaves)}
    if space in taken:
        raise Conflict(f"a space named {space!r} is already part of this hub; pick another id")
    cert = sign_csr(data_dir / CA_DIR, csr, name=space)
    password = new_password()
    spec = msgspec.structs.replace(spec, leaves=[*spec.leaves, LeafSpace(space=space, password=password)])
    save_spec(data_dir, spec)
    write_conf(spec, data_dir)
    reload_server(data_dir)
    return cert, password, [f"{spec.address}:{spec.leaf_port}"]


async def after_admission(data_dir: Path) -> None:
    await ensure_stream(load_spec(data_dir))


def reload_server(data_dir: Path) -> None:
    """SIGHUP the running nats-server (its pid file): it re-reads the config we wrote."""
    pid_file = data_dir / PID_FILE
    try:
        pid = int(pid_file.read_text().strip())
        os.kill(pid, signal.SIGHUP)
    except (FileNotFoundError, ValueError, ProcessLookupError, PermissionError) as e:
        raise NatsServerError(f"cannot make nats-server re-read its config (pid file {pid_file}: {e}); "
                              "is it running, as the same user as the node?") from None
