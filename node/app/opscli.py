"""The operator's commands for running a space for real: nats-config, nats-stream, ca,
invite, join, status, backup, restore. Parsed here, done in node.ops; cli.py dispatches.
"""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path

from node.errors import ConfigError, HitodeError

__all__ = ["add_commands", "COMMANDS", "run", "NeedsLook"]

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
    ci.add_argument("--days", type=int, help="default 3650")
    cs = csub.add_parser("issue", help="a server certificate for a space's server (routes, leaf links)")
    cs.add_argument("--ca", type=Path, required=True)
    cs.add_argument("--dir", type=Path, required=True, help="the space's data dir: writes <dir>/tls")
    cs.add_argument("--host", action="append", required=True, help="an address the server is reached at")
    cs.add_argument("--days", type=int, help="default 397")
    i = sub.add_parser("invite", help="an invitation for a new space to join as a leaf of this hub (works once)")
    i.add_argument("--dir", type=Path, required=True)
    i.add_argument("--expires", default="24h", help="how long it is valid: 90s, 30m, 24h, 7d (default 24h)")
    j = sub.add_parser("join", help="join the federation with an invitation; creates the data dir if new")
    j.add_argument("invitation", help="the line `hitode invite` printed")
    j.add_argument("--dir", type=Path, required=True)
    j.add_argument("--space", help="space id, for a new data dir")
    j.add_argument("--name", help="display name, for a new data dir")
    j.add_argument("--address", help="this server's address, named in its certificate")
    j.add_argument("--http-host", default="127.0.0.1")
    j.add_argument("--http-port", type=int, default=8700)
    j.add_argument("--client-address", default="127.0.0.1")
    j.add_argument("--monitor-address", default="127.0.0.1")
    st = sub.add_parser("status", help="this node's view in plain words (exit 1 if something needs a look)")
    st.add_argument("--dir", type=Path, required=True)
    b = sub.add_parser("backup", help="one file: database (online), keys, config, certificates")
    b.add_argument("--dir", type=Path, required=True)
    b.add_argument("--out", type=Path, required=True)
    r = sub.add_parser("restore", help="a backup into an empty data dir; the node then catches up from peers")
    r.add_argument("backup", type=Path)
    r.add_argument("--dir", type=Path, required=True)


def _seconds(text: str) -> int:
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400}
    num, unit = text[:-1], text[-1:]
    if unit not in units or not num.isdigit() or int(num) == 0:
        raise ConfigError(f"--expires {text!r}: write a number and a unit, e.g. 30m, 24h or 7d")
    return int(num) * units[unit]


def run(args: argparse.Namespace) -> str:
    """Do the command; return what to tell the operator.

    The commands' modules are imported here, not at the top: `hitode run` parses the same
    command line, and a running node should not hold x509 and urllib in memory for them.
    """
    from node.app.join import invite, join
    from node.ops import backup, pki, status
    from node.ops.configure import configure, parse_member
    from node.ops.spec import TLS_DIR, load_spec
    from node.ops.stream import ensure_stream

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
            crt = pki.init_ca(args.ca, days=args.days or pki.CA_DAYS)
            return f"made the CA: {crt} (give it to every space), {args.ca / 'ca.key'} (keep it here, mode 0600)"
        from node.config import load_config

        name = load_config(args.dir).space.id
        pki.issue(args.ca, args.dir / TLS_DIR, name=name, hosts=args.host, days=args.days or pki.SERVER_DAYS)
        until = pki.expiry(args.dir / TLS_DIR / "server.crt")
        return f"issued {args.dir / TLS_DIR / 'server.crt'} for {name} at {', '.join(args.host)}, valid until {until:%Y-%m-%d}"
    if args.command == "invite":
        line, expires = invite(args.dir, _seconds(args.expires))
        return f"invitation (works once, until {expires}); give the new space's operator this line:\n{line}"
    if args.command == "join":
        spec = join(args.invitation, args.dir, space=args.space, name=args.name, address=args.address,
                    http_host=args.http_host, http_port=args.http_port, client_address=args.client_address,
                    monitor_address=args.monitor_address)
        return (f"{spec.space} joined as a leaf of the hub at {', '.join(spec.hub)}; start its server with "
                f"`nats-server -c {args.dir / 'nats-server.conf'}`, then `hitode run --dir {args.dir}`")
    if args.command == "status":
        lines, fine = status.status(args.dir)
        if not fine:
            raise NeedsLook("\n".join(lines))
        return "\n".join(lines)
    if args.command == "backup":
        names = backup.backup(args.dir, args.out)
        return f"wrote {args.out} ({len(names)} files, mode 0600): keep it somewhere else than this machine"
    if args.command == "restore":
        backup.restore(args.backup, args.dir)
        return (f"restored {args.dir}; start its nats-server and `hitode run --dir {args.dir}`: the node catches up "
                "from its peers")
    raise ConfigError(f"unknown command {args.command}")


class NeedsLook(HitodeError):
    """`hitode status` found something to look at: the lines are printed, exit code 1."""



