"""Invitations on the inviting space: made over the operator API, redeemed at the join desk.

`POST /api/invitations` (operator token) makes one: a row (hash of its secret, expiry) and
the line to pass on. The join desk is a small listener of its own on the hub server's
`join_address` (server.toml), so the operator API can stay on loopback: `POST /join`
claims the invitation in one transaction (unknown, wrong secret, used or expired: refused,
saying which), then admits the space (`admit.admit_leaf`); if that fails the claim is
released and the same line can be tried again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
import time
from collections.abc import AsyncIterator
from typing import Annotated, Final

import msgspec
from aiohttp import web

from node.context import Context
from node.errors import BadInput, Conflict, Forbidden, HitodeError, NotFound
from node.ops.invitation import Admission, Expired, Redeem, encode, make, secret_hash
from node.ops.spec import CA_DIR, SPEC_FILE, TLS_DIR, load_spec, split_address
from node.store import Tx
from node.web.app import errors
from node.web.payload import decode_body, json_response
from node.web.route import Route

__all__ = ["ROUTES", "join_desk", "InvitationInput"]

log = logging.getLogger(__name__)

DAY: Final = 86400


class InvitationInput(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    expires_in: Annotated[int, msgspec.Meta(ge=1, le=30 * DAY, description="seconds; default a day")] = DAY


async def post_invitation(node: Context, request: web.Request) -> web.Response:
    inp = await decode_body(request, InvitationInput) if request.can_read_body else InvitationInput()
    if not (node.data_dir / SPEC_FILE).exists():
        raise Conflict("this space runs no hub server (no server.toml): see `hitode nats-config`")
    spec = load_spec(node.data_dir)
    if spec.topology != "hub" or not spec.join_address:
        raise Conflict("only a hub server with a join address admits spaces: "
                       "`hitode nats-config --dir ... --join-address HOST:PORT`")
    ca = node.data_dir / CA_DIR / "ca.crt"
    if not ca.exists() or not (node.data_dir / CA_DIR / "ca.key").exists():
        raise Conflict(f"this space keeps no CA ({node.data_dir / CA_DIR}): invite from the space that does")
    host, port = split_address(spec.join_address, 7480)
    inv = make(node.ident, join=f"https://{host}:{port}/join", ttl=inp.expires_in,
               hub=[f"{spec.address}:{spec.leaf_port}"], ca=ca.read_text())

    def unit(tx: Tx) -> None:
        tx.execute("INSERT INTO invitations (id, secret_hash, created_at, expires_at) VALUES (?, ?, ?, ?)",
                   (inv.id, secret_hash(inv.secret), time.time(), inv.expires))

    await node.store.transact(unit)
    log.info("ops: invitation %s made, expires %s", inv.id, inv.expires_text)
    return json_response({"invitation": encode(inv, node.ident), "id": inv.id, "expires": inv.expires_text},
                         status=201)


ROUTES: Final = (
    Route(method="POST", path="/api/invitations", handler=post_invitation,
          summary="Invite a space to join as a leaf of this hub (one use)", private=True, body=InvitationInput,
          status=201, errors=(409,), example={"expires_in": 86400}),
)


def _claim(tx: Tx, req: Redeem, now: float) -> None:
    row = tx.one("SELECT secret_hash, expires_at, used_at, used_by FROM invitations WHERE id = ?", (req.id,))
    if row is None:
        raise NotFound("no such invitation here; check that the whole line was copied")
    if not secret_hash(req.secret) == bytes(row["secret_hash"]):
        raise Forbidden("the invitation's secret is wrong")
    if row["used_at"] is not None:
        when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(row["used_at"]))
        raise Conflict(f"this invitation was already used (by {row['used_by']}, {when}); "
                       "an invitation works once: ask for a new one")
    if now >= row["expires_at"]:
        when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(row["expires_at"]))
        raise Expired(f"this invitation expired at {when}: ask for a new one")
    tx.execute("UPDATE invitations SET used_at = ?, used_by = ? WHERE id = ?", (now, req.space, req.id))


async def _redeem(node: Context, request: web.Request) -> web.Response:
    req: Redeem = await decode_body(request, Redeem)
    await node.store.transact(lambda tx: _claim(tx, req, time.time()))
    try:
        # Imported here: admission is rare, and the certificate code (cryptography) would
        # cost every node its import time and several MiB of memory at start.
        from node.ops import admit

        cert, password, hub = await asyncio.to_thread(admit.admit_leaf, node.data_dir, req.space, req.csr.encode())
        await admit.after_admission(node.data_dir)
    except BaseException as e:
        def release(tx: Tx) -> None:
            tx.execute("UPDATE invitations SET used_at = NULL, used_by = NULL WHERE id = ?", (req.id,))

        await node.store.transact(release)
        if isinstance(e, HitodeError):
            raise
        if isinstance(e, ValueError):
            raise BadInput(str(e)) from None
        raise
    log.info("ops: %s joined as a leaf with invitation %s", req.space, req.id)
    return json_response(Admission(space=req.space, cert=cert.decode(), password=password, hub=hub))


@contextlib.asynccontextmanager
async def join_desk(node: Context) -> AsyncIterator[object]:
    """The join listener, when server.toml gives a join address; nothing otherwise."""
    if not (node.data_dir / SPEC_FILE).exists():
        yield None
        return
    spec = load_spec(node.data_dir)
    if not spec.join_address:
        yield None
        return
    app = web.Application(middlewares=[errors], client_max_size=64 * 1024)
    app.router.add_post("/join", lambda request: _redeem(node, request))
    # Over TLS with the hub server's certificate: the joining space checks it against the
    # CA in its invitation, so the secret and the password in the answer travel sealed.
    tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    tls.load_cert_chain(node.data_dir / TLS_DIR / "server.crt", node.data_dir / TLS_DIR / "server.key")
    runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=1)
    await runner.setup()
    try:
        host, port = split_address(spec.join_address, 7480)
        try:
            await web.TCPSite(runner, host, port, ssl_context=tls).start()
        except OSError as e:
            raise HitodeError(f"cannot listen on {spec.join_address} (join_address in server.toml): {e}") from None
        log.info("ops: join desk on https://%s:%d/join", host, port)
        yield runner
    finally:
        await runner.cleanup()
