"""The kernel's own routes: health, metrics, this API's document, federation state,
quarantine and alerts. Every node has them, whatever features it runs."""

from __future__ import annotations

from typing import Final

from aiohttp import web

from node.context import Context
from node.federation import records
from node.web.app import OPENAPI
from node.web.payload import json_response, token_ok
from node.web.route import TEXT, Route
from schemas.envelope import PUB

__all__ = ["ROUTES"]


async def healthz(node: Context, request: web.Request) -> web.Response:
    return json_response(await node.health())


async def metrics(node: Context, request: web.Request) -> web.Response:
    await node.refresh_gauges()
    return web.Response(body=node.metrics.render(), content_type="text/plain", charset="utf-8")


async def openapi(node: Context, request: web.Request) -> web.Response:
    return json_response(request.app[OPENAPI])


async def federation(node: Context, request: web.Request) -> web.Response:
    """Public state is public; who writes dm records to whom is not (dm heads need the token)."""
    digest, count = await records.digest(node.store)
    sql = "SELECT author, channel, seq FROM chains"
    if not token_ok(node.token, request):
        sql += f" WHERE channel = '{PUB}'"
    chains = await node.store.all(sql + " ORDER BY author, channel")
    return json_response(
        {
            "space": node.space,
            "digest": digest,
            "records": count,
            "chains": [{"author": r[0], "channel": r[1], "seq": r[2]} for r in chains],
        }
    )


async def quarantine(node: Context, request: web.Request) -> web.Response:
    rows = await node.store.all(
        "SELECT id, at, source, subject, author, reason, seen, length(raw) AS size FROM quarantine"
        " ORDER BY id DESC LIMIT 200"
    )
    return json_response({"quarantine": [dict(r) for r in rows]})


async def alerts(node: Context, request: web.Request) -> web.Response:
    rows = await node.store.all("SELECT id, at, kind, space, message, seen FROM alerts ORDER BY id DESC LIMIT 200")
    return json_response({"alerts": [dict(r) for r in rows]})


ROUTES: Final = (
    Route(method="GET", path="/healthz", handler=healthz, summary="Space id, bus state, outbox backlog, replica lag"),
    Route(method="GET", path="/metrics", handler=metrics, summary="Prometheus metrics", produces=TEXT),
    Route(method="GET", path="/openapi.json", handler=openapi, summary="This document"),
    Route(method="GET", path="/api/federation", handler=federation, summary="High-water seq per author and pub channel, and a digest; dm chains with the token"),
    Route(method="GET", path="/api/quarantine", handler=quarantine, summary="Records refused from the bus, with reasons", private=True),
    Route(method="GET", path="/api/alerts", handler=alerts, summary="Alerts for the operator (equivocation, pin conflicts)", private=True),
)
