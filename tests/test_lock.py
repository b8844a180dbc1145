"""The lock file still satisfies pyproject.toml, and the venv holds what the lock says.

`make demo` and `make test` install only from requirements.lock; a bound raised in
pyproject.toml without `make lock` would otherwise go unnoticed until a fresh machine.
"""

from __future__ import annotations

import importlib.metadata
import re
import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[1]
_PIN = re.compile(r"^([A-Za-z0-9_.\-]+)==([^\s;\\]+)\s*(?:;\s*([^\\]+?))?\s*\\?$")


def _locked() -> dict[str, str]:
    pins: dict[str, str] = {}
    for line in (ROOT / "requirements.lock").read_text().splitlines():
        m = _PIN.match(line)
        if m is None:
            continue
        name, version, marker = m.groups()
        if marker and not Requirement(f"x; {marker}").marker.evaluate():  # type: ignore[union-attr]
            continue
        pins[canonicalize_name(name)] = version
    return pins


def _required() -> list[Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    reqs = [*project["project"]["dependencies"], *project["project"]["optional-dependencies"]["test"],
            *project["build-system"]["requires"]]
    return [r for r in map(Requirement, reqs) if r.marker is None or r.marker.evaluate()]


def test_every_requirement_of_pyproject_is_pinned_in_the_lock_within_its_bounds() -> None:
    """Each direct requirement (run, test, build) has an exact pin that its specifier admits."""
    pins = _locked()
    wrong = []
    for req in _required():
        pinned = pins.get(canonicalize_name(req.name))
        if pinned is None:
            wrong.append(f"{req.name}: not in the lock")
        elif not req.specifier.contains(pinned, prereleases=True):
            wrong.append(f"{req.name}: locked {pinned}, pyproject.toml wants {req.specifier}")
    assert not wrong, "run `make lock`: " + "; ".join(wrong)


def test_every_pin_carries_a_hash() -> None:
    """pip --require-hashes refuses a lock with an unhashed pin; say which one here."""
    text = (ROOT / "requirements.lock").read_text()
    blocks = re.split(r"\n(?=[A-Za-z0-9])", text)
    unhashed = [b.split("==")[0] for b in blocks if "==" in b and "--hash=sha256:" not in b]
    assert not unhashed


def test_the_installed_versions_are_the_locked_ones() -> None:
    """The suite runs on exactly what the lock names (a stale venv is caught here)."""
    drift = []
    for name, version in _locked().items():
        try:
            installed = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            drift.append(f"{name} missing")
            continue
        if canonicalize_name(installed) != canonicalize_name(version) and installed != version:
            drift.append(f"{name} {installed} != {version}")
    assert not drift, "; ".join(drift)
