"""Invitations on the inviting space: made over the operator API, redeemed at the join desk.

`POST /api/invitations` (operator token) makes one: a row (hash of its secret, expiry) and
the line to pass on; `GET /api/invitations` lists them, `POST /api/invitations/{id}/revoke`
revokes an unused one (what the Invitations page does, for scripts). The join desk is a small listener of its own on the hub server's
`join_address` (server.toml), so the operator API can stay on loopback: `POST /join`
claims the invitation in one transaction (unknown, wrong secret, used, revoked or expired:
refused, saying which; the rules are node/ops/inviting.py's), then admits the space
(`admit.admit_leaf`); if that fails the claim is released and the same line can be tried again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
import time
from collections.abc import AsyncIterator
from typing import Final

import msgspec
from aiohttp import web

from node.context import Context
from node.errors import BadInput, HitodeError
from node.ops.invitation import Admission, Redeem
from node.ops.inviting import InvitationInput, Made, claim, find, invite, listing, release, revoke
from node.ops.spec import SPEC_FILE, TLS_DIR, load_spec, split_address
from node.web.app import errors
from node.web.payload import decode_body, json_response
from node.web.route import Route

__all__ = ["ROUTES", "join_desk"]

log = logging.getLogger(__name__)

async def post_invitation(node: Context, request: web.Request) -> web.Response:
    inp = await decode_body(request, InvitationInput) if request.can_read_body else InvitationInput()
    inv, line = await invite(node, inp)
    log.info("ops: invitation %s made, expires %s", inv.id, inv.expires_text)
    return json_response({"invitation": line, "id": inv.id, "expires": inv.expires_text}, status=201)


def _listed(made: Made, now: float) -> dict[str, object]:
    """An invitation as the API lists it: what became of it, never its secret."""
    return {**msgspec.structs.asdict(made), "state": made.state(now)}


async def get_invitations(node: Context, request: web.Request) -> web.Response:
    now = time.time()
    return json_response({"invitations": [_listed(m, now) for m in await listing(node.store)]})


async def revoke_invitation(node: Context, request: web.Request) -> web.Response:
    await revoke(node.store, request.match_info["id"])
    made = await find(node.store, request.match_info["id"])
    assert made is not None  # it was just revoked
    return json_response(_listed(made, time.time()))


ROUTES: Final = (
    Route(method="POST", path="/api/invitations", handler=post_invitation,
          summary="Invite a space to join as a leaf of this hub (one use)", private=True, body=InvitationInput,
          status=201, errors=(409,), example={"expires_in": 86400}),
    Route(method="GET", path="/api/invitations", handler=get_invitations, private=True,
          summary="The invitations made here, newest first: state open, used (by whom), revoked or expired"),
    Route(method="POST", path="/api/invitations/{id:[A-Za-z0-9_-]+}/revoke", handler=revoke_invitation,
          summary="Revoke an unused, unexpired invitation: the join desk refuses it from then on",
          errors=(404, 409, 410)),
)


async def _redeem(node: Context, request: web.Request) -> web.Response:
    req: Redeem = await decode_body(request, Redeem)
    await node.store.transact(lambda tx: claim(tx, req, time.time()))
    try:
        # Imported here: admission is rare, and the certificate code (cryptography) would
        # cost every node its import time and several MiB of memory at start.
        from node.ops import admit

        cert, password, hub = await asyncio.to_thread(admit.admit_leaf, node.data_dir, req.space, req.csr.encode())
        await admit.after_admission(node.data_dir)
    except BaseException as e:
        await node.store.transact(lambda tx: release(tx, req.id))
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
