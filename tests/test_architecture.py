"""The tree keeps the shape DESIGN §2 gives it; these read the imports, not the behaviour.

- The kernel (store, bus, federation, web and the modules beside them) names no feature:
  a capability plugs in through its `Feature`, so adding one never edits the kernel.
- Domain rules import nothing of nats or aiohttp: they are plain functions over Structs
  and a store handle, testable without a bus.
- No import cycles among node's modules, and no module over ~400 lines.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
NODE = ROOT / "node"
KERNEL = ("store", "bus", "federation", "web")
KERNEL_MODULES = ("errors", "config", "metrics", "supervisor", "context", "feature", "__main__")
RULES = ("node/events/rules.py", "node/events/rsvps.py", "node/members/rules.py", "node/members/skills.py",
         "node/notes/rules.py", "node/requests/rules.py", "node/requests/matching.py",
         "node/visas/passes.py", "node/visas/status.py", "node/visas/checkin.py", "node/visas/books.py",
         "node/visas/settlement.py",
         "node/lab/rules.py", "node/lab/labels.py", "node/lab/writing.py", "node/lab/discussion.py", "node/lab/forms.py")


def _module(path: Path) -> str:
    rel = path.relative_to(ROOT).with_suffix("")
    parts = rel.parts[:-1] if rel.name == "__init__" else rel.parts
    return ".".join(parts)


def _imports(path: Path) -> set[str]:
    """Modules imported at module level or in functions (TYPE_CHECKING blocks included)."""
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.add(node.module)
            out.update(f"{node.module}.{a.name}" for a in node.names)
    return out


def _graph() -> dict[str, set[str]]:
    files = {_module(p): p for p in NODE.rglob("*.py")}
    return {m: {i for i in _imports(p) if i in files and i != m} for m, p in files.items()}


def _features() -> set[str]:
    return {p.name for p in NODE.iterdir() if p.is_dir() and (p / "__init__.py").exists()} - {*KERNEL, "app"}


def test_the_kernel_names_no_feature() -> None:
    """Nothing under store/, bus/, federation/, web/ (or the kernel's own modules) imports a feature or the app."""
    banned = tuple(f"node.{f}" for f in (*_features(), "app"))
    wrong = []
    for path in NODE.rglob("*.py"):
        rel = path.relative_to(NODE)
        if rel.parts[0] in KERNEL or rel.stem in KERNEL_MODULES and len(rel.parts) == 1:
            if rel.stem == "__main__":
                continue  # `python -m node` starts the app: the one way in from the top
            wrong += [f"{rel}: {i}" for i in _imports(path) if i.startswith(banned)]
    assert not wrong, wrong


def test_domain_rules_import_nothing_of_the_bus_or_http() -> None:
    wrong = [f"{r}: {i}" for r in RULES for i in _imports(ROOT / r) if i.split(".")[0] in ("nats", "aiohttp")]
    assert not wrong, wrong


def test_no_import_cycles_among_nodes_modules() -> None:
    graph = _graph()
    # A package's __init__ importing its own modules is how it declares itself; a cycle
    # is a module reaching back to one that (through others) imports it.
    seen: dict[str, int] = {}
    stack: list[str] = []
    cycles: list[list[str]] = []

    def visit(m: str) -> None:
        seen[m] = 1
        stack.append(m)
        for n in sorted(graph[m]):
            if seen.get(n) == 1:
                cycles.append(stack[stack.index(n):] + [n])
            elif n not in seen:
                visit(n)
        stack.pop()
        seen[m] = 2

    for m in sorted(graph):
        if m not in seen:
            visit(m)
    real = [c for c in cycles if not all(x == c[0] or x.startswith(c[0] + ".") or c[0].startswith(x + ".") for x in c)]
    assert not real, [" -> ".join(c) for c in real]


def test_no_module_over_about_four_hundred_lines() -> None:
    long = {str(p.relative_to(ROOT)): n for p in [*NODE.rglob("*.py"), *(ROOT / "schemas").rglob("*.py")]
            if (n := len(p.read_text(encoding="utf-8").splitlines())) > 420}
    assert not long, long
