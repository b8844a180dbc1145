"""The bus contract of the node as composed: schemas/asyncapi.json from the kinds it runs.

`python -m node.app.contract` rewrites the file; tests/test_contract.py fails when the
committed file differs from what the default node's kinds generate.
"""

from __future__ import annotations

import sys

from node.app.features import DEFAULT, kinds_of
from schemas.asyncapi import PATH, render

__all__ = ["asyncapi"]


def asyncapi() -> str:
    kinds = kinds_of(DEFAULT)
    return render({k.name: k.body for k in kinds if not k.dm}, {k.name: k.body for k in kinds if k.dm})


if __name__ == "__main__":
    PATH.write_text(asyncapi(), encoding="utf-8")
    sys.stdout.write(f"wrote {PATH}\n")
