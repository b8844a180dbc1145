"""The published contract stays true: AsyncAPI in sync with the Structs, OpenAPI complete."""

from __future__ import annotations

from node.app.contract import asyncapi
from node.app.features import DEFAULT
from node.web import status
from node.web.openapi import document as openapi
from schemas.asyncapi import PATH

ROUTES = [*status.ROUTES, *(r for f in DEFAULT for r in f.routes)]


def test_asyncapi_document_matches_the_structs() -> None:
    """The committed schemas/asyncapi.json is what the Structs generate (run `python -m node.app.contract`)."""
    assert PATH.read_text(encoding="utf-8") == asyncapi(), "stale: run `python -m node.app.contract`"


def test_openapi_lists_every_route_with_its_body() -> None:
    """Every HTTP route appears in /openapi.json; writes name their request schema and need the token."""
    doc = openapi(ROUTES)
    assert doc["openapi"].startswith("3.1")
    for r in ROUTES:
        op = doc["paths"][r.template][r.method.lower()]
        if r.body is not None:
            ref = op["requestBody"]["content"]["application/json"]["schema"]["$ref"]
            assert ref.rsplit("/", 1)[1] in doc["components"]["schemas"]
        if r.method != "GET":
            assert op["security"] == [{"operator": []}]
