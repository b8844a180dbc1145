"""One file that brings a space back: `hitode backup` and `hitode restore`.

A gzipped tar of the data dir's own files (config, keys, token, server spec, TLS, the CA
if kept here) and a copy of the database made with SQLite's online backup API, so the
node may keep running meanwhile. Left out: the JetStream store (transport; the node
catches up from its peers), logs, the run and pid files. Restoring writes into an empty
data dir only, every file mode 0600; the nats-server config is written again from the
spec. Records this space wrote after the backup are on its peers (see deploy/RUNBOOK.md).
"""

from __future__ import annotations

import io
import sqlite3
import tarfile
import tempfile
import time
from pathlib import Path
from typing import Final

from node.config import CONFIG_FILE
from node.errors import ConfigError
from node.federation.sync import RESTORED
from node.ops.natsconf import CONF_FILE, PID_FILE, write_conf
from node.ops.spec import SPEC_FILE, load_spec

__all__ = ["backup", "restore", "DB_FILE"]

DB_FILE: Final = "hitode.db"
_SKIP_DIRS: Final = {"nats"}
_SKIP_FILES: Final = {"run.json", PID_FILE, CONF_FILE, "node.log"}


def _own_files(data_dir: Path) -> list[Path]:
    out = []
    for path in sorted(data_dir.rglob("*")):
        rel = path.relative_to(data_dir)
        if not path.is_file() or rel.parts[0] in _SKIP_DIRS or rel.name in _SKIP_FILES:
            continue
        if rel.name.startswith(DB_FILE) or rel.suffix in (".log", ".tmp"):
            continue
        out.append(path)
    return out


def backup(data_dir: Path, out: Path) -> list[str]:
    """Write the backup file (mode 0600); return the names it holds."""
    if not (data_dir / CONFIG_FILE).exists():
        raise ConfigError(f"{data_dir} holds no space (no {CONFIG_FILE})")
    names = []
    with tempfile.TemporaryDirectory() as tmp:
        copy = Path(tmp) / DB_FILE
        if (data_dir / DB_FILE).exists():
            src = sqlite3.connect(f"file:{data_dir / DB_FILE}?mode=ro", uri=True)
            dst = sqlite3.connect(copy)
            try:
                src.backup(dst)  # a consistent copy while the node writes
            finally:
                dst.close()
                src.close()
        part = out.with_name(out.name + ".part")
        part.touch(mode=0o600)
        with tarfile.open(part, "w:gz") as tar:
            for path in _own_files(data_dir):
                name = str(path.relative_to(data_dir))
                tar.add(path, arcname=name, recursive=False)
                names.append(name)
            if copy.exists():
                tar.add(copy, arcname=DB_FILE)
                names.append(DB_FILE)
            stamp = f"hitode backup of {data_dir} at {time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())}\n"
            info = tarfile.TarInfo("BACKUP")
            info.size, info.mode, info.mtime = len(stamp), 0o600, int(time.time())
            tar.addfile(info, io.BytesIO(stamp.encode()))
        part.chmod(0o600)
        part.replace(out)
    return names


def restore(archive: Path, data_dir: Path) -> list[str]:
    """Unpack a backup into an empty (or missing) data dir; return the names restored."""
    if data_dir.exists() and any(data_dir.iterdir()):
        raise ConfigError(f"{data_dir} is not empty: restore into a new directory, or move this one away first")
    try:
        tar = tarfile.open(archive, "r:gz")
    except (FileNotFoundError, tarfile.TarError, OSError) as e:
        raise ConfigError(f"{archive} is not a hitode backup: {e}") from None
    names = []
    with tar:
        members = tar.getmembers()
        if "BACKUP" not in {m.name for m in members} or CONFIG_FILE not in {m.name for m in members}:
            raise ConfigError(f"{archive} is not a hitode backup (no BACKUP or {CONFIG_FILE} in it)")
        data_dir.mkdir(parents=True, exist_ok=True)
        data_dir.chmod(0o700)
        for m in members:
            if m.name == "BACKUP":
                continue
            target = (data_dir / m.name).resolve()
            if not m.isfile() or data_dir.resolve() not in target.parents:
                raise ConfigError(f"{archive}: refusing {m.name!r} (not a plain file inside the data dir)")
            target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            src = tar.extractfile(m)
            assert src is not None
            target.write_bytes(src.read())
            target.chmod(0o600)
            names.append(m.name)
    if (data_dir / SPEC_FILE).exists():
        write_conf(load_spec(data_dir), data_dir)
    # The node takes back what it wrote after the backup before it writes again.
    (data_dir / RESTORED).touch(mode=0o600)
    return names
