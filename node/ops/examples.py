"""The example configs in deploy/, written by the generator itself so they cannot drift:
`python -m node.ops.examples` writes them; a test checks they are what it writes.

Each is what `hitode nats-config` writes for space kobe in /var/lib/hitode, with
placeholder passwords (the real ones are generated per server).
"""

from __future__ import annotations

from pathlib import Path
from typing import Final

import msgspec

from node.ops.natsconf import render
from node.ops.spec import LeafSpace, Member, ServerSpec

__all__ = ["EXAMPLES", "write_examples"]

DEPLOY: Final = Path(__file__).resolve().parents[2] / "deploy"
DATA: Final = Path("/var/lib/hitode")
_PW: Final = "GENERATED-BY-hitode-nats-config"
_MEMBERS: Final = [Member(space="sapporo", host="10.0.0.2"), Member(space="hakodate", host="10.0.0.3")]


def _spec(topology: str, **kw: object) -> ServerSpec:
    base: dict[str, object] = {"space": "kobe", "topology": topology, "node_password": _PW, "admin_password": _PW}
    if topology != "single":
        base["address"] = "10.0.0.1"
    return msgspec.convert({**base, **msgspec.to_builtins(kw)}, ServerSpec)


EXAMPLES: Final = {
    "single": _spec("single"),
    "cluster": _spec("cluster", members=_MEMBERS),
    "hub": _spec("hub", members=_MEMBERS, join_address="10.0.0.1:7480",
                 leaves=[LeafSpace(space="osaka", password=_PW)]),
    "leaf": _spec("leaf", hub=["10.0.0.1:7422"], hub_password=_PW),
}


def text(topology: str) -> str:
    return render(EXAMPLES[topology], DATA)


def write_examples(deploy: Path = DEPLOY) -> list[Path]:
    out = []
    for topology in EXAMPLES:
        path = deploy / topology / "nats-server.conf"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text(topology), encoding="utf-8")
        out.append(path)
    return out


if __name__ == "__main__":
    for p in write_examples():
        print(p)
