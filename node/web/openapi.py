"""The OpenAPI 3.1 document, generated from the routes a node serves and their input Structs."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import msgspec

from node.web.route import Route
from schemas.asyncapi import clean_descriptions

__all__ = ["document"]


def document(routes: Sequence[Route]) -> dict[str, Any]:
    bodies = sorted({r.body for r in routes if r.body is not None}, key=lambda t: t.__name__)
    _, components = msgspec.json.schema_components(
        bodies, ref_template="#/components/schemas/{name}"
    )
    components = clean_descriptions(components)
    error = {
        "description": "An error naming the field when one is at fault",
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
    }
    components["Error"] = {
        "type": "object",
        "properties": {
            "error": {
                "type": "object",
                "required": ["code", "message"],
                "properties": {
                    "code": {"type": "string"},
                    "message": {"type": "string"},
                    "field": {"type": "string"},
                },
            }
        },
    }
    paths: dict[str, dict[str, Any]] = {}
    for r in routes:
        op: dict[str, Any] = {
            "summary": r.summary,
            "responses": {"200": {"description": "OK"}, "4XX": error},
        }
        params = [p.strip("{}") for p in r.path.split("/") if p.startswith("{")]
        if params:
            op["parameters"] = [
                {"name": p, "in": "path", "required": True, "schema": {"type": "string"}} for p in params
            ]
        if r.body is not None:
            op["requestBody"] = {
                "required": True,
                "content": {
                    "application/json": {"schema": {"$ref": f"#/components/schemas/{r.body.__name__}"}}
                },
            }
        if r.private or r.method != "GET":
            op["security"] = [{"operator": []}]
        paths.setdefault(r.path, {})[r.method.lower()] = op
    return {
        "openapi": "3.1.0",
        "info": {"title": "hitode node", "version": "1"},
        "paths": paths,
        "components": {
            "schemas": components,
            "securitySchemes": {"operator": {"type": "http", "scheme": "bearer"}},
        },
    }
