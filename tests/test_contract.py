"""The published contract stays true: AsyncAPI in sync with the Structs, OpenAPI complete."""

from __future__ import annotations

from node.web.app import ROUTES
from node.web.openapi import document as openapi
from schemas.asyncapi import PATH, render


def test_asyncapi_document_matches_the_structs() -> None:
    """The committed schemas/asyncapi.json is what the Structs generate (run `python -m schemas.asyncapi`)."""
    assert PATH.read_text(encoding="utf-8") == render(), "stale: run `python -m schemas.asyncapi`"


def test_openapi_lists_every_route_with_its_body() -> None:
    """Every HTTP route appears in /openapi.json; writes name their request schema and need the token."""
    doc = openapi()
    assert doc["openapi"].startswith("3.1")
    for r in ROUTES:
        op = doc["paths"][r.path][r.method.lower()]
        if r.body is not None:
            ref = op["requestBody"]["content"]["application/json"]["schema"]["$ref"]
            assert ref.rsplit("/", 1)[1] in doc["components"]["schemas"]
        if r.method != "GET":
            assert op["security"] == [{"operator": []}]
