"""Stream HITODE as the operator's admin user makes it: `hitode nats-stream`, and each
admission of a leaf space (the space's subjects join the stream in the same step that
creates its user, DESIGN §8).

A node makes the stream itself on a single server or a plain cluster (its user may); a
hub's stream lists each member space's subjects, which only the admin may change. The
subjects are only ever added: another hub server's operator may have admitted spaces this
server's spec does not know.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Sequence

import nats
import nats.errors
import nats.js.errors
from nats.aio.client import Client as NatsClient
from nats.js.manager import JetStreamManager

from node.bus.connection import STREAM, StreamFactory, stream_config
from node.errors import BusUnavailable
from node.ops.natsconf import ADMIN, api_prefix, hitode_subjects
from node.ops.spec import ServerSpec

__all__ = ["ensure_stream", "wanted_subjects"]


async def _admin(url: str, password: str, attempts: int = 5) -> NatsClient:
    """The admin's connection. Tried a few times: right after an admission the server is
    reloading its config (a new user), and a connection made meanwhile may be dropped."""
    for attempt in range(1, attempts + 1):
        try:
            return await nats.connect(url, user=ADMIN, password=password, connect_timeout=3,
                                      allow_reconnect=False, max_reconnect_attempts=0)
        except (nats.errors.Error, OSError, TimeoutError) as e:
            if attempt == attempts:
                raise BusUnavailable(f"cannot reach this space's nats-server at {url} as {ADMIN}: {e}; "
                                     "is it running?") from None
            await asyncio.sleep(0.5 * attempt)
    raise AssertionError("unreachable")


def wanted_subjects(spec: ServerSpec) -> list[str]:
    if spec.topology != "hub":
        return ["hitode.pub.>", "hitode.dm.>"]
    return hitode_subjects([spec.space, *(m.space for m in spec.members), *(leaf.space for leaf in spec.leaves)])


async def ensure_stream(spec: ServerSpec, *, timeout: float = 10, streams: Sequence[StreamFactory] = ()) -> list[str]:
    """Create stream HITODE on this space's server, or add the subjects it lacks; return them.
    The features' own `streams` are made too when missing (a hub's spaces may not)."""
    if spec.topology == "leaf":
        raise BusUnavailable("stream HITODE lives in the hub: a hub server's operator makes it")
    host = "127.0.0.1" if spec.client_address in ("0.0.0.0", "::") else spec.client_address
    url = f"nats://{host}:{spec.client_port}"
    for attempt in range(1, 4):
        nc = await _admin(url, spec.admin_password)
        try:
            return await _ensure(nc.jsm(prefix=api_prefix(spec.domain), timeout=timeout), spec, streams)
        except (nats.errors.ConnectionClosedError, nats.errors.UnexpectedEOF, nats.errors.StaleConnectionError):
            if attempt == 3:
                raise BusUnavailable(f"the connection to {url} kept dropping while making stream {STREAM}") from None
            await asyncio.sleep(0.5 * attempt)  # a reload after an admission closed it: once more
        except (nats.errors.Error, TimeoutError) as e:
            raise BusUnavailable(f"JetStream on {url} did not make stream {STREAM}: {e}") from None
        finally:
            await nc.close()
    raise AssertionError("unreachable")


async def _ensure(jsm: JetStreamManager, spec: ServerSpec, streams: Sequence[StreamFactory]) -> list[str]:
    for make in streams:
        config = make(spec.replicas)
        assert config.name is not None
        try:
            await jsm.stream_info(config.name)
        except nats.js.errors.NotFoundError:
            await jsm.add_stream(config)
    want = wanted_subjects(spec)
    try:
        info = await jsm.stream_info(STREAM)
    except nats.js.errors.NotFoundError:
        await jsm.add_stream(dataclasses.replace(stream_config(spec.replicas), subjects=want))
        return want
    have = list(info.config.subjects or [])
    missing = [s for s in want if s not in have]
    if missing:
        await jsm.update_stream(dataclasses.replace(info.config, subjects=have + missing))
    return have + missing
