"""`hitode nats-config`: the space's server spec made or changed from the command line,
its nats-server config written, and the node's `[nats]` section pointed at it.

No hand-editing: the node's user and password, the JetStream domain and the stream's
replicas follow from the spec.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import msgspec

from node.config import Config, NatsSection, load_config, write_config
from node.errors import ConfigError
from node.ops.natsconf import write_conf
from node.ops.spec import (
    SPEC_FILE,
    TLS_DIR,
    Member,
    ServerSpec,
    load_spec,
    new_password,
    save_spec,
    split_address,
)

__all__ = ["configure", "point_node_at", "parse_member"]


def parse_member(text: str) -> Member:
    """`sapporo=10.0.0.2` or `sapporo=10.0.0.2:6222`."""
    space, sep, addr = text.partition("=")
    if not sep:
        raise ConfigError(f"--member {text!r}: write it as SPACE=HOST[:PORT], e.g. sapporo=10.0.0.2")
    try:
        host, port = split_address(addr, 6222)
        return msgspec.convert({"space": space, "host": host, "port": port}, Member)
    except (ValueError, msgspec.ValidationError) as e:
        raise ConfigError(f"--member {text!r}: {e}") from None


def configure(data_dir: Path, changes: dict[str, object], out: Path | None = None) -> ServerSpec:
    """Make server.toml (first time) or apply `changes` to it, then write the config files."""
    config = load_config(data_dir)
    try:
        spec = load_spec(data_dir)
        raw = msgspec.to_builtins(spec)
    except ConfigError:
        if (data_dir / SPEC_FILE).exists():
            raise
        if "topology" not in changes:
            raise ConfigError("no server.toml yet: say --topology single, cluster, hub or leaf") from None
        raw = {"space": config.space.id, "node_password": new_password(), "admin_password": new_password()}
    raw.update({k: v for k, v in changes.items() if v is not None})
    try:
        spec = msgspec.convert(raw, ServerSpec)
    except msgspec.ValidationError as e:
        raise ConfigError(f"nats-config: {str(e).replace('`$.', '`')}") from None
    if spec.topology != "single":
        missing = [n for n in ("ca.crt", "server.crt", "server.key") if not (data_dir / TLS_DIR / n).exists()]
        if missing:
            raise ConfigError(
                f"a {spec.topology} server's links need TLS, and {data_dir / TLS_DIR} lacks {', '.join(missing)}: "
                f"run `hitode ca issue --ca <CA dir> --dir {data_dir} --host <address>` first"
            )
    save_spec(data_dir, spec)
    write_conf(spec, data_dir, out)
    point_node_at(data_dir, config, spec)
    return spec


def point_node_at(data_dir: Path, config: Config, spec: ServerSpec, pins: Sequence[object] = ()) -> Config:
    """The node's [nats] section for its own server: its user, the domain, the replicas."""
    host = "127.0.0.1" if spec.client_address in ("0.0.0.0", "::") else spec.client_address
    raw = msgspec.to_builtins(config)
    raw["nats"] = msgspec.to_builtins(NatsSection(
        urls=[f"nats://{host}:{spec.client_port}"], domain=spec.domain, stream_replicas=spec.replicas,
        # servers shared by several spaces: a consumer must survive the one it sits on
        consumer_replicas=0 if spec.replicas > 1 else 1,
        user=spec.space, password=spec.node_password,
    ))
    if pins:
        known = {p["space"] for p in raw.get("pins", [])}
        raw["pins"] = [*raw.get("pins", []), *(p for p in msgspec.to_builtins(list(pins)) if p["space"] not in known)]
    new = msgspec.convert(raw, Config)
    write_config(data_dir, new)
    return new
