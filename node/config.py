"""The node's configuration: one TOML file in the data dir, validated once at start.

Every section is a frozen Struct that forbids unknown keys, so a typo (`prot = 8701`) is
an error naming the key instead of a silently ignored setting. The CLI turns a
``ConfigError`` into exit code 2.
"""

from __future__ import annotations

import base64
import tomllib
import zoneinfo
from pathlib import Path
from typing import Annotated, Final

import msgspec
import tomli_w

from node.errors import ConfigError
from schemas.ids import SpaceId

__all__ = ["Config", "SpaceSection", "HttpSection", "NatsSection", "EmbeddedSection", "Pin",
           "load_config", "write_config", "CONFIG_FILE"]

CONFIG_FILE: Final = "config.toml"


class _Section(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    pass


class SpaceSection(_Section, frozen=True, kw_only=True, forbid_unknown_fields=True):
    id: SpaceId
    name: Annotated[str, msgspec.Meta(min_length=1, max_length=120)]
    name_ja: str = ""
    city: str = ""
    url: str = ""
    # The space's own zone: times given without an offset (e.g. `from=2026-12-01T09:00`)
    # are read in it.
    tz: str = "Asia/Tokyo"

    def __post_init__(self) -> None:
        try:
            zoneinfo.ZoneInfo(self.tz)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"{self.tz!r} is not a known time zone (e.g. Asia/Tokyo)") from None


class HttpSection(_Section, frozen=True, kw_only=True, forbid_unknown_fields=True):
    host: str = "127.0.0.1"
    port: Annotated[int, msgspec.Meta(ge=0, le=65535)] = 8700
    # The node serves plain HTTP; behind a reverse proxy that ends TLS (nginx, Caddy) it
    # learns the client's scheme from X-Forwarded-Proto, so the session cookie is marked
    # Secure. Only a proxy may say that: anyone reaching the node directly could send the
    # header too, so it is read only when this is true.
    trusted_proxy: bool = False


class NatsSection(_Section, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Where the bus is. No urls: the node runs its own embedded nats-server."""

    urls: list[str] = []
    domain: str = ""
    stream_replicas: Annotated[int, msgspec.Meta(ge=1, le=5)] = 1
    # Replicas of this node's two consumers: 1 (DESIGN §4: a tenth of an R3's cost), or 0
    # for as many as the stream, where servers are shared and one may be cut off while the
    # others serve (`hitode nats-config` sets 0 for a hub).
    consumer_replicas: Annotated[int, msgspec.Meta(ge=0, le=5)] = 1
    user: str = ""
    password: str = ""
    creds: str = ""

    def __post_init__(self) -> None:
        if self.stream_replicas == 2:
            # A quorum of two of two survives no failure (DESIGN §4).
            raise ValueError("stream_replicas must be 1 or 3 or more, never 2")
        for url in self.urls:
            if not url.startswith(("nats://", "tls://", "ws://", "wss://")):
                raise ValueError(f"{url!r} is not a nats:// URL")


class EmbeddedSection(_Section, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """The embedded nats-server, used only when [nats] urls is empty."""

    binary: str = ""
    client_port: Annotated[int, msgspec.Meta(ge=-1, le=65535)] = -1


class Pin(_Section, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """A peer's signing key pinned ahead of time, instead of trusted on first use."""

    space: SpaceId
    sign_key: str

    def key_bytes(self) -> bytes:
        return base64.b64decode(self.sign_key)

    def __post_init__(self) -> None:
        try:
            raw = base64.b64decode(self.sign_key, validate=True)
        except ValueError:
            raise ValueError("sign_key must be base64") from None
        if len(raw) != 32:
            raise ValueError("sign_key must be 32 bytes in base64")


class TuningSection(_Section, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Knobs with sensible defaults; documented in the runbook."""

    presence_interval: Annotated[float, msgspec.Meta(gt=0, le=300)] = 5.0
    max_clock_skew_hours: Annotated[float, msgspec.Meta(gt=0)] = 6.0
    relay_in_flight: Annotated[int, msgspec.Meta(ge=1, le=10000)] = 512
    relay_timeout: Annotated[float, msgspec.Meta(gt=0)] = 5.0
    fetch_batch: Annotated[int, msgspec.Meta(ge=1, le=1000)] = 256
    feed_interval: Annotated[float, msgspec.Meta(ge=10)] = 900.0


class Config(_Section, frozen=True, kw_only=True, forbid_unknown_fields=True):
    space: SpaceSection
    http: HttpSection = HttpSection()
    nats: NatsSection = NatsSection()
    embedded: EmbeddedSection = EmbeddedSection()
    tuning: TuningSection = TuningSection()
    pins: list[Pin] = []


def load_config(data_dir: Path) -> Config:
    path = data_dir / CONFIG_FILE
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"no config at {path}: run `hitode init --dir {data_dir}` first") from None
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{path}: not valid TOML: {e}") from None
    try:
        return msgspec.convert(raw, Config)
    except msgspec.ValidationError as e:
        raise ConfigError(f"{path}: {_plain(str(e))}") from None


def _plain(msg: str) -> str:
    """msgspec says `$.http.port`; an operator reads `http.port`."""
    return msg.replace("`$.", "`").replace("`$`", "the file")


def write_config(data_dir: Path, config: Config) -> Path:
    path = data_dir / CONFIG_FILE
    path.write_text(tomli_w.dumps(msgspec.to_builtins(config)), encoding="utf-8")
    path.chmod(0o600)  # it may hold a NATS password
    return path
