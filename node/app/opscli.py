"""The operator's commands for running a space for real: nats-config, nats-stream, ca,
invite, join, status, backup, restore. Parsed here, done in node.ops; cli.py dispatches.
"""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path

from node.errors import ConfigError
from node.ops import pki
from node.ops.configure import configure, parse_member
from node.ops.spec import TLS_DIR, load_spec
from node.ops.stream import ensure_stream

__all__ = ["add_commands", "COMMANDS", "run"]

COMMANDS = ("nats-config", "nats-stream", "ca", "invite", "join", "status", "backup", "restore")


def add_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    n = sub.add_parser("nats-config", help="write this space's nats-server config (single, cluster, hub, leaf)")
    n.add_argument("--dir", type=Path, required=True)
    n.add_argument("--topology", choices=["single", "cluster", "hub", "leaf"])
    n.add_argument("--address", help="where the other spaces' servers reach this one (routes, leaf links)")
    n.add_argument("--client-address", help="clients' listener (default 127.0.0.1: loopback only)")
    n.add_argument("--client-port", type=int)
    n.add_argument("--monitor-address", help="monitoring listener (default 127.0.0.1)")
    n.add_argument("--monitor-port", type=int)
    n.add_argument("--member", action="append", default=None, metavar="SPACE=HOST[:PORT]",
                   help="another server of the cluster (repeat for each, 3-5 servers in all)")
    n.add_argument("--join-address", help="hub: HOST:PORT where invited spaces redeem their invitation")
    n.add_argument("--out", type=Path, help="where to write the config (default <dir>/nats-server.conf)")
    s = sub.add_parser("nats-stream", help="make stream HITODE, or add the spaces it lacks (as the admin user)")
    s.add_argument("--dir", type=Path, required=True)
    c = sub.add_parser("ca", help="the federation's certificate authority for server-to-server TLS")
    csub = c.add_subparsers(dest="ca_command", required=True)
    ci = csub.add_parser("init", help="make the CA (once, on the space that keeps it)")
    ci.add_argument("--ca", type=Path, required=True, help="directory for ca.key and ca.crt, e.g. <dir>/ca")
    ci.add_argument("--days", type=int, default=pki.CA_DAYS)
    cs = csub.add_parser("issue", help="a server certificate for a space's server (routes, leaf links)")
    cs.add_argument("--ca", type=Path, required=True)
    cs.add_argument("--dir", type=Path, required=True, help="the space's data dir: writes <dir>/tls")
    cs.add_argument("--host", action="append", required=True, help="an address the server is reached at")
    cs.add_argument("--days", type=int, default=pki.SERVER_DAYS)


def run(args: argparse.Namespace) -> str:
    """Do the command; return what to tell the operator."""
    if args.command == "nats-config":
        changes: dict[str, object] = {
            "topology": args.topology, "address": args.address, "client_address": args.client_address,
            "client_port": args.client_port, "monitor_address": args.monitor_address,
            "monitor_port": args.monitor_port, "join_address": args.join_address,
            "members": None if args.member is None else [parse_member(m) for m in args.member],
        }
        spec = configure(args.dir, changes, args.out)
        conf = args.out or args.dir / "nats-server.conf"
        then = (f"then `hitode nats-stream --dir {args.dir}` once the cluster is up, " if spec.topology == "hub"
                else "")
        return (f"wrote {conf} ({spec.topology}, {spec.cluster_size} server(s), stream R{spec.replicas}) and "
                f"pointed {args.dir}/config.toml at it; start it with `nats-server -c {conf}`, {then}"
                f"then `hitode run --dir {args.dir}`")
    if args.command == "nats-stream":
        subjects = asyncio.run(ensure_stream(load_spec(args.dir)))
        return f"stream HITODE takes {', '.join(subjects)}"
    if args.command == "ca":
        if args.ca_command == "init":
            crt = pki.init_ca(args.ca, days=args.days)
            return f"made the CA: {crt} (give it to every space), {args.ca / 'ca.key'} (keep it here, mode 0600)"
        from node.config import load_config

        name = load_config(args.dir).space.id
        pki.issue(args.ca, args.dir / TLS_DIR, name=name, hosts=args.host, days=args.days)
        until = pki.expiry(args.dir / TLS_DIR / "server.crt")
        return f"issued {args.dir / TLS_DIR / 'server.crt'} for {name} at {', '.join(args.host)}, valid until {until:%Y-%m-%d}"
    raise ConfigError(f"unknown command {args.command}")



