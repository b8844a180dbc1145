"""A space's own nats-server described once: `server.toml` in the data dir (mode 0600).

The spec says where this space's server stands in the federation (alone, one of a cluster
over routes, a server of the hub, or a leaf of the hub), which addresses it listens on
and the secrets of its users. `hitode nats-config` writes the spec the first time and the
nats-server config from it every time; a join admitted by this space adds a leaf space
to it. Unknown keys are refused, as in config.toml.
"""

from __future__ import annotations

import ipaddress
import re
import secrets
import tomllib
from pathlib import Path
from typing import Annotated, Final, Literal

import msgspec
import tomli_w

from node.errors import ConfigError
from schemas.ids import SpaceId

__all__ = ["SPEC_FILE", "TLS_DIR", "CA_DIR", "Topology", "Member", "LeafSpace", "ServerSpec",
           "load_spec", "save_spec", "new_password", "split_address"]

SPEC_FILE: Final = "server.toml"
TLS_DIR: Final = "tls"  # ca.crt, server.crt, server.key of this space's server
CA_DIR: Final = "ca"  # the federation's CA, on the one space that keeps it (ca.key, ca.crt)

Topology = Literal["single", "cluster", "hub", "leaf"]
Port = Annotated[int, msgspec.Meta(ge=1, le=65535)]
Size = Annotated[str, msgspec.Meta(pattern=r"^[1-9][0-9]{0,5}(K|M|G|T)B?$", description="e.g. 64MB, 8GB")]
_HOST = re.compile(r"^[A-Za-z0-9.:-]{1,253}$")


class _Strict(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    pass


class Member(_Strict, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Another space's server in the same cluster (a route to it)."""

    space: SpaceId
    host: str
    port: Port = 6222


class LeafSpace(_Strict, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """A space admitted to the hub as a leaf: its user on this server."""

    space: SpaceId
    password: str


class ServerSpec(_Strict, frozen=True, kw_only=True, forbid_unknown_fields=True):
    space: SpaceId
    topology: Topology
    # the address the other spaces' servers reach this one at (routes, leaf links)
    address: str = "127.0.0.1"
    client_address: str = "127.0.0.1"  # clients stay on loopback unless asked otherwise
    client_port: Port = 4222
    monitor_address: str = "127.0.0.1"
    monitor_port: Port = 8222
    cluster_name: str = "hitode"
    cluster_port: Port = 6222
    leaf_port: Port = 7422
    members: list[Member] = []  # cluster, hub: the other servers of the cluster
    hub: list[str] = []  # leaf: the hub's leafnode addresses, host:port
    hub_password: str = ""  # leaf: this space's user on the hub
    leaves: list[LeafSpace] = []  # hub: the spaces admitted here as leaves
    # where a join is redeemed (hub with the CA): host:port, empty = no joins here
    join_address: str = ""
    node_password: str  # this space's node, a client of its own server
    admin_password: str  # `hitode nats-stream` and admissions, on loopback
    max_file_store: Size = "8GB"
    max_memory_store: Size = "64MB"
    max_connections: Annotated[int, msgspec.Meta(ge=16)] = 1024
    max_ha_assets: Annotated[int, msgspec.Meta(ge=1)] = 2000
    ping_interval: Annotated[int, msgspec.Meta(ge=1)] = 20  # seconds; a dead route shows in 3

    def __post_init__(self) -> None:
        for host in (self.address, self.client_address, self.monitor_address, *(m.host for m in self.members)):
            if not _HOST.match(host):
                raise ValueError(f"{host!r} is not a host name or IP address")
        for addr in self.hub:
            split_address(addr, 7422)
        if self.join_address:
            split_address(self.join_address, 7480)
        if self.topology == "leaf" and not (self.hub and self.hub_password):
            raise ValueError("a leaf needs `hub` addresses and `hub_password` (see `hitode join`)")
        if self.topology in ("single", "leaf") and self.members:
            raise ValueError(f"a {self.topology} server has no cluster members")
        if self.topology != "hub" and (self.leaves or self.join_address):
            raise ValueError("only a hub server admits leaf spaces")
        names = [self.space, *(m.space for m in self.members), *(leaf.space for leaf in self.leaves)]
        if len(set(names)) != len(names):
            raise ValueError(f"a space is named twice among {names}")
        if len(self.members) + 1 == 2:
            # a quorum of two of two survives no failure (DESIGN §4)
            raise ValueError("a cluster of two servers survives no failure: use one, or three to five")

    @property
    def cluster_size(self) -> int:
        return 1 + len(self.members)

    @property
    def domain(self) -> str:
        """The JetStream domain the space's node uses: `hub` on a hub or a leaf of it."""
        return "hub" if self.topology in ("hub", "leaf") else ""

    @property
    def replicas(self) -> int:
        return 3 if self.cluster_size >= 3 else 1


def split_address(addr: str, default_port: int) -> tuple[str, int]:
    """`host:port`, `host` or `[v6]:port` -> (host, port); refuses anything else."""
    host, port = addr, default_port
    if addr.startswith("["):
        host, _, rest = addr[1:].partition("]")
        if rest:
            port = int(rest.removeprefix(":")) if rest.removeprefix(":").isdigit() else -1
    elif addr.count(":") == 1:
        host, p = addr.split(":")
        port = int(p) if p.isdigit() else -1
    if not _HOST.match(host) or not 1 <= port <= 65535:
        raise ValueError(f"{addr!r} is not host:port")
    return host, port


def is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def new_password() -> str:
    """Letters, digits, - and _: safe in a URL and in nats-server's config unquoted or not."""
    return "p" + secrets.token_urlsafe(24)


def load_spec(data_dir: Path) -> ServerSpec:
    path = data_dir / SPEC_FILE
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(
            f"no {SPEC_FILE} in {data_dir}: run `hitode nats-config --dir {data_dir} --topology ...` first"
        ) from None
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{path}: not valid TOML: {e}") from None
    try:
        return msgspec.convert(raw, ServerSpec)
    except msgspec.ValidationError as e:
        raise ConfigError(f"{path}: {str(e).replace('`$.', '`')}") from None


def save_spec(data_dir: Path, spec: ServerSpec) -> Path:
    """Written whole to a temporary file and renamed: a reader never sees half of it."""
    path = data_dir / SPEC_FILE
    tmp = path.with_suffix(".tmp")
    tmp.write_text(tomli_w.dumps(msgspec.to_builtins(spec)), encoding="utf-8")
    tmp.chmod(0o600)  # it holds the passwords of the server's users
    tmp.replace(path)
    return path
