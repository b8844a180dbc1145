"""Making a space's data dir: config, its two key pairs and the operator token (all 0600).

Shared by `hitode init`, the demo and the tests; the config is written last, so a data
dir with a config is a complete one.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import msgspec

from node.config import CONFIG_FILE, Config, write_config
from node.errors import ConfigError
from node.federation.identity import BOX_FILE, SIGNING_FILE, Identity

__all__ = ["init_space"]


def init_space(
    data_dir: Path,
    *,
    space: str,
    name: str,
    http_port: int = 8700,
    http_host: str = "127.0.0.1",
    nats_urls: Sequence[str] = (),
    stream_replicas: int = 1,
    name_ja: str = "",
    city: str = "",
) -> Config:
    """Create a data dir: config, Ed25519 and X25519 keys, operator token (files 0600)."""
    if (data_dir / CONFIG_FILE).exists():
        raise ConfigError(f"{data_dir} is already initialised ({CONFIG_FILE} exists)")
    try:
        config = msgspec.convert(
            {
                "space": {"id": space, "name": name, "name_ja": name_ja, "city": city},
                "http": {"host": http_host, "port": http_port},
                "nats": {"urls": list(nats_urls), "stream_replicas": stream_replicas},
            },
            Config,
        )
    except msgspec.ValidationError as e:
        raise ConfigError(f"init: {str(e).replace('`$.', '`')}") from None
    data_dir.mkdir(parents=True, exist_ok=True)
    data_dir.chmod(0o700)
    if (data_dir / SIGNING_FILE).exists():
        # An init stopped before writing its config: the keys are unused, start afresh.
        for name in (SIGNING_FILE, BOX_FILE):
            (data_dir / name).unlink(missing_ok=True)
    Identity.create(space, data_dir)
    write_config(data_dir, config)  # last: its presence means the init is complete
    return config
