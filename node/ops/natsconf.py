"""The nats-server config of a space's own server, generated from its `ServerSpec`.

Safe as written (DESIGN §8): clients on loopback unless asked otherwise, no anonymous
user; each space's user an allow-list of its own subjects; routes and leaf links over
TLS with certificates of the federation's CA both ways (`verify: true`: a server without
one is refused); `sync_interval: always`; limits on payload, connections and JetStream
storage. Strings are written JSON-quoted, which nats-server's format accepts and which
never expands a `$`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Final

from node.ops.spec import TLS_DIR, ServerSpec, split_address

__all__ = ["ADMIN", "render", "allow_list", "api_prefix", "hitode_subjects", "write_conf", "CONF_FILE", "PID_FILE"]

ADMIN: Final = "_admin"  # not a space id (no `_` in those), so no space can take the name
CONF_FILE: Final = "nats-server.conf"
PID_FILE: Final = "nats-server.pid"  # where a reload after an admission sends SIGHUP


class _Bare(str):
    """A size such as 64MB: nats-server reads it only unquoted."""


def api_prefix(domain: str) -> str:
    return f"$JS.{domain}.API" if domain else "$JS.API"


def allow_list(space: str, domain: str, *, may_create_stream: bool = False) -> dict[str, Any]:
    """A space's rights on a server (DESIGN §8): publish only its own records and its own
    two consumers' calls; the JetStream API names each call, so deleting or purging the
    stream, or another space's consumer, is never allowed."""
    consumers = (f"{space}-pub", f"{space}-dm")
    publish = [f"hitode.pub.*.{space}", f"hitode.dm.*.*.{space}", "hitode.ticket.*"]
    # A server of the domain maps `$JS.<domain>.API.>` to `$JS.API.>` before it checks a
    # local client's rights: the same calls are listed in both forms.
    for api in dict.fromkeys((api_prefix(domain), "$JS.API")):
        publish += [
            f"{api}.CONSUMER.CREATE.HITODE.{space}-pub.hitode.pub.>",
            f"{api}.CONSUMER.CREATE.HITODE.{space}-dm.hitode.dm.{space}.>",
            *(f"{api}.CONSUMER.{op}.HITODE.{c}" for op in ("INFO", "DELETE", "MSG.NEXT") for c in consumers),
            f"{api}.STREAM.INFO.HITODE", f"{api}.INFO",
            # a common ticket's redemption is read back by direct get on the ticket's subject
            f"{api}.STREAM.INFO.TICKETS", f"{api}.DIRECT.GET.TICKETS.>",
        ]
        if may_create_stream:
            # the space's own server, alone or in a cluster of spaces that trust each other
            publish += [f"{api}.STREAM.CREATE.HITODE", f"{api}.STREAM.CREATE.TICKETS"]
    publish += [
        *(f"$JS.ACK.HITODE.{c}.>" for c in consumers),
        *(f"$JS.ACK.*.*.HITODE.{c}.>" for c in consumers),
        "hitode.rpc.*.*", f"hitode.presence.{space}", "_INBOX.>",
    ]
    return {
        "publish": {"allow": publish},
        "subscribe": {"allow": ["_INBOX.>", f"hitode.rpc.{space}.>", "hitode.presence.*"]},
        "allow_responses": True,
    }


def hitode_subjects(spaces: list[str]) -> list[str]:
    """Stream HITODE on a hub lists each member space's subjects: the hub forwards interest
    to a leaf only for subjects that leaf may publish (DESIGN §8)."""
    return [s for sp in spaces for s in (f"hitode.pub.*.{sp}", f"hitode.dm.*.*.{sp}")]


def _tls(data_dir: Path, *, verify: bool) -> dict[str, Any]:
    tls = data_dir / TLS_DIR
    out: dict[str, Any] = {
        "cert_file": str(tls / "server.crt"), "key_file": str(tls / "server.key"),
        "ca_file": str(tls / "ca.crt"), "timeout": 5,
    }
    if verify:
        out["verify"] = True  # the other side must show a certificate of our CA
    return out


def _host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def _users(spec: ServerSpec) -> list[dict[str, Any]]:
    domain = spec.domain
    users: list[dict[str, Any]] = [
        {"user": ADMIN, "password": spec.admin_password},
        {"user": spec.space, "password": spec.node_password,
         "permissions": allow_list(spec.space, domain, may_create_stream=spec.topology in ("single", "cluster"))},
    ]
    users += [{"user": leaf.space, "password": leaf.password, "permissions": allow_list(leaf.space, domain)}
              for leaf in spec.leaves]
    return users


def render(spec: ServerSpec, data_dir: Path) -> str:
    """The whole nats-server config for `spec`, with files under `data_dir`."""
    nats = data_dir / "nats"
    conf: dict[str, Any] = {
        "server_name": spec.space,
        "listen": f"{_host(spec.client_address)}:{spec.client_port}",
        "http": f"{_host(spec.monitor_address)}:{spec.monitor_port}",
        "pid_file": str(data_dir / PID_FILE),
        "log_file": str(nats / "nats-server.log"),
        "logfile_size_limit": _Bare("10MB"),
        "logfile_max_num": 3,
        "max_payload": _Bare("1MB"),
        "max_pending": _Bare("64MB"),
        "max_connections": spec.max_connections,
        "max_subscriptions": 10000,
        "ping_interval": f"{spec.ping_interval}s",
        "ping_max": 3,
        "write_deadline": "10s",
        "jetstream": {
            "store_dir": str(nats),
            # a PubAck means the record is on disk (DESIGN §4)
            "sync_interval": "always",
            "max_memory_store": _Bare(spec.max_memory_store),
            "max_file_store": _Bare(spec.max_file_store),
        },
        "authorization": {"users": _users(spec)},
    }
    js = conf["jetstream"]
    if spec.topology == "hub":
        js["domain"] = "hub"
    if spec.topology == "leaf":
        js["domain"] = spec.space  # its own, never used by the node: DESIGN §8
    if spec.topology in ("cluster", "hub"):
        # each R3 consumer is a RAFT group: bound them per server
        js["limits"] = {"max_ha_assets": spec.max_ha_assets}
        conf["cluster"] = {
            "name": spec.cluster_name,
            "listen": f"{_host(spec.address)}:{spec.cluster_port}",
            # a node talks to its own space's server; clients are not told of the others
            "no_advertise": True,
            "routes": [f"nats-route://{_host(m.host)}:{m.port}" for m in spec.members],
            "tls": _tls(data_dir, verify=True),
        }
    if spec.topology == "hub":
        conf["leafnodes"] = {
            "listen": f"{_host(spec.address)}:{spec.leaf_port}",
            "no_advertise": True,
            "tls": _tls(data_dir, verify=True),
        }
    if spec.topology == "leaf":
        urls = []
        for addr in spec.hub:
            host, port = split_address(addr, 7422)
            urls.append(f"nats-leaf://{spec.space}:{spec.hub_password}@{_host(host)}:{port}")
        conf["leafnodes"] = {
            "reconnect": "2s",
            "remotes": [{
                "urls": urls,
                "tls": _tls(data_dir, verify=False),
                # nobody across the link drives this space's own JetStream
                "deny_imports": [f"$JS.{spec.space}.API.>"],
            }],
        }
    header = (f"# nats-server config of space {spec.space} ({spec.topology}), written by "
              "`hitode nats-config` from server.toml: edit that, not this.\n")
    return header + "\n".join(f"{k}: {_format(v, 0)}" for k, v in conf.items()) + "\n"


def _format(value: Any, depth: int) -> str:
    pad = "  " * depth
    if isinstance(value, dict):
        items = "\n".join(f"{pad}  {k}: {_format(v, depth + 1)}" for k, v in value.items())
        return "{\n" + items + f"\n{pad}}}"
    if isinstance(value, list):
        if not value:
            return "[]"
        return "[\n" + ",\n".join(f"{pad}  {_format(v, depth + 1)}" for v in value) + f"\n{pad}]"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | _Bare):
        return str(value)
    return json.dumps(value)


def write_conf(spec: ServerSpec, data_dir: Path, out: Path | None = None) -> Path:
    """Write the config (mode 0600: it holds passwords) where asked, by default the data dir."""
    path = out or data_dir / CONF_FILE
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(render(spec, data_dir), encoding="utf-8")
    tmp.chmod(0o600)
    tmp.replace(path)
    (data_dir / "nats").mkdir(parents=True, exist_ok=True)
    return path
