"""Features' request/reply operations over `hitode.rpc.<to>.<op>`: signed both ways.

A feature declares an `Rpc` (its op name and an async handler); the node serves every
declared op on its own subject. A request is signed by the caller, names the op, the
callee and the inbox it listens on, and is recent; it is answered only if the caller's key
is the one pinned for it (a space this node knows). The reply is signed by the callee and
names the caller and the inbox, so a hub that relays it cannot forge or redirect one; and a
request is answered once: one copied off the bus and sent again is refused while it is
recent enough to be accepted at all (each call has its own inbox). Both bodies travel
sealed (nacl Box between the two spaces' X25519 keys, the sender's key named in its signed
message): replies cross core NATS inboxes any client may subscribe to, and a feature's
answer may be about a member.
`call` is the client side: one request, a short timeout, and None when nobody answered in
time, which the feature treats as "unreachable" by its own policy; a verified refusal from
the callee is `Refused` (the callee spoke: not the same as silence), and an answer that
does not verify is `Rejected` (anyone on the bus may have sent it: as good as none).

Sync and presence (sync.py, directory.py) keep their own subjects and tags; this is the
generic path for capabilities, so the kernel names none of them.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
from collections.abc import Awaitable, Callable, Sequence
from types import TracebackType
from typing import Annotated, Final, TypeVar

import msgspec
import nats.errors
from nats.aio.msg import Msg

from node.bus.connection import Bus
from node.errors import HitodeError, Rejected
from node.federation.directory import box_key_of
from node.federation.identity import Identity, open_call, sign_call
from node.store import Store
from node.supervisor import forever
from schemas.ids import SpaceId
from schemas.time import AwareDateTime

__all__ = ["Rpc", "RpcHandler", "RpcServer", "Refused", "Answer", "Outcome", "call", "CALL_TAG", "ANSWER_TAG"]

log = logging.getLogger(__name__)

CALL_TAG: Final = b"hitode/v1/call\x00"
ANSWER_TAG: Final = b"hitode/v1/answer\x00"
MAX_AGE: Final = dt.timedelta(minutes=5)
R = TypeVar("R", bound=msgspec.Struct)
Op = Annotated[str, msgspec.Meta(pattern=r"^[a-z][a-z0-9_]{0,31}$")]

# (the caller's space id, the request body as MessagePack) -> the answer; raising a
# HitodeError answers with its message as the error.
RpcHandler = Callable[[str, bytes], Awaitable[msgspec.Struct]]


class Refused(Rejected):
    """The callee answered, signed with its pinned key, and its answer is an error."""

    code = "refused"
    status = 403


class Rpc(msgspec.Struct, frozen=True, kw_only=True):
    op: str  # the last token of the subject: hitode.rpc.<to>.<op>
    handler: RpcHandler
    summary: str = ""


BoxKey = Annotated[bytes, msgspec.Meta(min_length=32, max_length=32)]
Nonce = Annotated[bytes, msgspec.Meta(min_length=24, max_length=24)]


class Call(msgspec.Struct, frozen=True, kw_only=True):
    caller: SpaceId
    to: SpaceId
    op: Op
    at: AwareDateTime
    reply: Annotated[str, msgspec.Meta(max_length=255)]
    box_key: BoxKey  # the caller's: the callee seals its answer to it
    nonce: Nonce
    body: bytes  # the request, sealed to the callee's box key


class Outcome(msgspec.Struct, frozen=True, kw_only=True):
    """What an answer seals: the handler's result or its error."""

    body: bytes = b""
    error: str = ""


class Answer(msgspec.Struct, frozen=True, kw_only=True):
    caller: SpaceId
    reply: Annotated[str, msgspec.Meta(max_length=255)]
    box_key: bytes = b""  # the callee's, when `sealed` holds an Outcome sealed to the caller
    nonce: bytes = b""
    sealed: bytes = b""
    error: str = ""  # the kernel's refusal of a request it could not open or verify (unsealed)


_enc: Final = msgspec.msgpack.Encoder()
_outcome: Final = msgspec.msgpack.Decoder(Outcome)


async def _pinned(store: Store, space: str) -> bytes | None:
    key = await store.scalar("SELECT sign_key FROM pins WHERE space = ?", (space,))
    return bytes(key) if key is not None else None


async def call(
    bus: Bus, store: Store, ident: Identity, to: str, op: str, body: msgspec.Struct, answer: type[R],
    *, timeout: float = 2.0,
) -> R | None:
    """Ask `to`; its signed answer decoded as `answer`, or None if it did not answer in time.

    Raises Refused when `to`'s verified answer is an error, Rejected when an answer does not
    verify (or does not decode)."""
    if not bus.ready:
        return None
    their_box = await store.transact(lambda tx: box_key_of(tx, to), durable=False)
    if their_box is None:  # no profile of `to` yet: nobody to seal to, as good as no answer
        return None
    nc = bus.nc
    inbox = nc.new_inbox()
    nonce, sealed = ident.seal(_enc.encode(body), their_box)
    req = Call(caller=ident.space, to=to, op=op, at=dt.datetime.now(dt.UTC), reply=inbox, box_key=ident.box_key,
               nonce=nonce, body=sealed)
    try:
        sub = await nc.subscribe(inbox, max_msgs=1)
        try:
            await nc.publish(f"hitode.rpc.{to}.{op}", sign_call(ident, CALL_TAG, req), reply=inbox)
            data = (await sub.next_msg(timeout=timeout)).data
            if not data:  # the server's "no responders" status: nobody serves `to` now
                return None
        finally:
            with contextlib.suppress(nats.errors.Error):
                await sub.unsubscribe()
    except (nats.errors.Error, TimeoutError) as e:
        log.debug("rpc: %s did not answer %s (%s)", to, op, e)
        return None
    got, key = open_call(data, ANSWER_TAG, Answer)
    if key != await _pinned(store, to) or got.caller != ident.space or got.reply != inbox:
        raise Rejected(f"the answer to {op} is not signed by {to}'s pinned key for this request")
    if got.error:
        raise Refused(f"{to} refused {op}: {got.error}")
    try:
        out = _outcome.decode(ident.unseal(got.nonce, got.sealed, got.box_key))
    except (msgspec.DecodeError, msgspec.ValidationError) as e:
        raise Rejected(f"{to} answered {op} with something unreadable: {e}") from None
    if out.error:
        raise Refused(f"{to} refused {op}: {out.error}")
    try:
        return msgspec.msgpack.decode(out.body, type=answer)
    except (msgspec.DecodeError, msgspec.ValidationError) as e:
        raise Rejected(f"{to} answered {op} with something unreadable: {e}") from None


class RpcServer:
    """Serves the features' ops on `hitode.rpc.<me>.<op>`; one subscription each."""

    def __init__(self, bus: Bus, store: Store, ident: Identity, rpcs: Sequence[Rpc]) -> None:
        ops = [r.op for r in rpcs]
        if len(set(ops)) != len(ops) or {"sync", "head"} & set(ops):
            raise ValueError(f"rpc ops must be unique and not the kernel's: {ops}")
        self._bus = bus
        self._store = store
        self._ident = ident
        self._rpcs = {r.op: r for r in rpcs}
        # (caller, reply inbox) -> when its request stops being recent: the ones answered.
        self._answered: dict[tuple[str, str], dt.datetime] = {}
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> RpcServer:
        if self._rpcs:
            self._task = asyncio.create_task(forever("rpc server", self._serve), name="rpc-serve")
        return self

    async def __aexit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def _serve(self) -> None:
        await self._bus.wait_ready()
        me = self._ident.space
        subs = [await self._bus.nc.subscribe(f"hitode.rpc.{me}.{op}", cb=self._handle) for op in self._rpcs]
        try:
            await asyncio.Event().wait()
        finally:
            for sub in subs:
                with contextlib.suppress(nats.errors.Error):
                    await sub.unsubscribe()

    async def answer(self, subject: str, data: bytes, reply_to: str) -> Answer:
        """Verify a request and run its handler; the answer to send (never raises)."""
        try:
            req, key = open_call(data, CALL_TAG, Call)
        except Rejected as e:
            return Answer(caller="unknown", reply=reply_to, error=e.message)
        out = Answer(caller=req.caller, reply=reply_to)
        rpc = self._rpcs.get(req.op)
        if rpc is None or subject != f"hitode.rpc.{self._ident.space}.{req.op}" or req.to != self._ident.space:
            return msgspec.structs.replace(out, error="the request names another op or space")
        if req.reply != reply_to:
            return msgspec.structs.replace(out, error="the request names another reply inbox")
        if abs(dt.datetime.now(dt.UTC) - req.at) > MAX_AGE:
            return msgspec.structs.replace(out, error="the request is too old or from the future; check the clock")
        if key != await _pinned(self._store, req.caller):
            return msgspec.structs.replace(out, error=f"the request is not signed by {req.caller}'s pinned key")
        if not self._first_time(req):
            return msgspec.structs.replace(out, error="this request was answered already; a call is answered once")
        try:
            result = Outcome(body=_enc.encode(await rpc.handler(req.caller, self._ident.unseal(req.nonce, req.body,
                                                                                              req.box_key))))
        except HitodeError as e:
            result = Outcome(error=e.message)
        except (msgspec.DecodeError, msgspec.ValidationError) as e:
            result = Outcome(error=f"bad request body: {e}")
        nonce, sealed = self._ident.seal(_enc.encode(result), req.box_key)
        return msgspec.structs.replace(out, box_key=self._ident.box_key, nonce=nonce, sealed=sealed)

    def _first_time(self, req: Call) -> bool:
        """Remember a verified request until it is too old to be accepted anyway."""
        now = dt.datetime.now(dt.UTC)
        for k in [k for k, until in self._answered.items() if until < now]:
            del self._answered[k]
        key = (req.caller, req.reply)
        if key in self._answered:
            return False
        self._answered[key] = req.at + MAX_AGE
        return True

    async def _handle(self, msg: Msg) -> None:
        if not msg.reply:
            return
        try:
            ans = await self.answer(msg.subject, msg.data, msg.reply)
        except Exception:  # noqa: BLE001 - a caller's odd request must not go unanswered
            log.exception("rpc: failed to answer on %s", msg.subject)
            ans = Answer(caller="unknown", reply=msg.reply, error="the node failed on this request")
        try:
            await msg.respond(sign_call(self._ident, ANSWER_TAG, ans))
        except nats.errors.Error as e:
            log.info("rpc: could not answer on %s (%s)", msg.subject, e)
