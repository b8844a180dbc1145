"""The `hitode` command: init, run, demo. Signals and logging are set up here only.

Plain words for operators: a bad config names the key and exits 2; a failure to start
(a port in use, a nats-server that will not run) says what and exits 1.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from node.app import opscli
from node.app.demo import run_demo
from node.app.node import DB_FILE, RUN_FILE, Node
from node.app.setup import init_space
from node.app.signals import run_until_signal
from node.config import load_config
from node.errors import ConfigError, HitodeError
from node.federation import rotation
from node.store import Store

__all__ = ["main", "init_space"]

log = logging.getLogger("hitode")


async def _run(data_dir: Path) -> None:
    config = load_config(data_dir)

    async def body(stop: asyncio.Event) -> None:
        async with Node(data_dir, config) as node:
            print(f"hitode: {node.space} is running at {node.http_url}  (Ctrl-C stops it)", flush=True)
            await stop.wait()

    await run_until_signal(body)


async def _rotate(data_dir: Path) -> None:
    config = load_config(data_dir)
    run = data_dir / RUN_FILE
    if run.exists():
        pid = int(json.loads(run.read_text()).get("pid", 0))
        if pid and Path(f"/proc/{pid}").exists():
            raise ConfigError(f"the node is running (pid {pid}); stop it before rotating its keys")
    async with Store(data_dir / DB_FILE) as store:
        await rotation.rotate(data_dir, store, config.space.id)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="hitode", description="A node of the hitode coworking federation")
    p.add_argument("-v", "--verbose", action="store_true", help="log debug detail")
    sub = p.add_subparsers(dest="command", required=True)
    i = sub.add_parser("init", help="create a space's data dir, keys and config")
    i.add_argument("--dir", type=Path, required=True, help="data directory to create")
    i.add_argument("--space", required=True, help="space id, e.g. kobe")
    i.add_argument("--name", required=True, help="display name of the space")
    i.add_argument("--name-ja", default="", help="Japanese name")
    i.add_argument("--city", default="")
    i.add_argument("--http-port", type=int, default=8700)
    i.add_argument("--http-host", default="127.0.0.1", help="HTTP listener (default loopback only)")
    i.add_argument("--nats-url", action="append", default=[], help="existing NATS server (repeatable); none: embedded")
    i.add_argument("--stream-replicas", type=int, default=1)
    r = sub.add_parser("run", help="run the node of a data dir")
    r.add_argument("--dir", type=Path, required=True)
    k = sub.add_parser("rotate-keys", help="replace the space's keys (node stopped); peers follow")
    k.add_argument("--dir", type=Path, required=True)
    d = sub.add_parser("demo", help="three spaces on this machine, in one NATS cluster")
    d.add_argument("--dir", type=Path, default=Path(".hitode-demo"))
    d.add_argument("--base-port", type=int, default=8701)
    opscli.add_commands(sub)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)-7s %(name)s: %(message)s",
        datefmt="%H:%M:%S",
    )
    for noisy in ("nats", "aiohttp.access"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    try:
        if args.command == "init":
            init_space(
                args.dir, space=args.space, name=args.name, name_ja=args.name_ja, city=args.city,
                http_port=args.http_port, http_host=args.http_host, nats_urls=args.nats_url, stream_replicas=args.stream_replicas,
            )
            print(f"hitode: initialised {args.space} in {args.dir}; start it with: hitode run --dir {args.dir}")
        elif args.command == "run":
            asyncio.run(_run(args.dir))
        elif args.command == "rotate-keys":
            asyncio.run(_rotate(args.dir))
            print("hitode: new keys are in place; start the node and its peers will follow the rotation")
        elif args.command == "demo":
            asyncio.run(run_demo(args.dir, args.base_port))
        elif args.command in opscli.COMMANDS:
            print(f"hitode: {opscli.run(args)}")
    except ConfigError as e:
        print(f"hitode: error: {e.message}", file=sys.stderr)
        return 2
    except opscli.NeedsLook as e:
        print(e.message)
        return 1
    except HitodeError as e:
        print(f"hitode: error: {e.message}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return 0


