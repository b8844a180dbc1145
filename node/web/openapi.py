"""The OpenAPI 3.1 document, generated from the routes a node serves and their Structs.

Everything a client generator or a fuzzer needs is taken from the same declarations the
edge enforces: path parameters, the query Struct's fields, the body Struct (with the text
rules of schemas/text.py as patterns), every status the route answers with the error
schema on each error, the token where it is needed, and ETag/If-Match headers.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from http import HTTPStatus
from typing import Any

import msgspec

from node.web.route import CSV, ICS, JSON, PNG, SVG, TEXT, Route
from schemas.asyncapi import clean_descriptions

__all__ = ["document"]

_ERROR: dict[str, Any] = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message"],
            "properties": {
                "code": {"type": "string", "examples": ["bad_input"]},
                "message": {"type": "string", "examples": ["must be a web address starting with http:// or https://"]},
                "field": {"type": "string", "description": "the field at fault, when one is", "examples": ["url"]},
            },
        }
    },
}
_BODIES: dict[str, dict[str, Any]] = {
    JSON: {"schema": {"type": ["object", "array"]}},
    ICS: {"schema": {"type": "string"}},
    TEXT: {"schema": {"type": "string"}},
    CSV: {"schema": {"type": "string"}},
    SVG: {"schema": {"type": "string"}},
    PNG: {"schema": {"type": "string", "contentMediaType": "image/png"}},
}


def _query_parameters(query: type[msgspec.Struct]) -> list[dict[str, Any]]:
    (schema,), components = msgspec.json.schema_components([query], ref_template="#/components/schemas/{name}")
    props = components[query.__name__].get("properties", {})
    required = set(components[query.__name__].get("required", []))
    return [
        {"name": name, "in": "query", "required": name in required, "schema": clean_descriptions(prop)}
        for name, prop in props.items()
    ]


def _response(route: Route, status: int) -> dict[str, Any]:
    words = HTTPStatus(status).phrase
    if status == 304:
        return {"description": "Not Modified: the representation named by If-None-Match is current"}
    if status >= 400:
        return {"description": words, "content": {JSON: {"schema": {"$ref": "#/components/schemas/Error"}}}}
    out: dict[str, Any] = {"description": words,
                           "content": {t: _BODIES[t] for t in (route.produces, *route.also_produces)}}
    if route.cacheable or route.if_match:
        out["headers"] = {"ETag": {"schema": {"type": "string"}, "description": "the representation's version"}}
    return out


def _link(routes: Sequence[Route], paths: dict[str, dict[str, Any]]) -> None:
    """OpenAPI links from a route that creates a resource to those that take its id, so a
    client (or a stateful fuzzer) can follow POST /api/events to GET /api/events/{id}."""
    for r in routes:
        if not r.creates:
            continue
        created = paths[r.template][r.method.lower()]["responses"][str(r.status)]
        for path, ops in paths.items():
            if path.startswith(r.template + "/{id}"):
                for method, op in ops.items():
                    created.setdefault("links", {})[op["operationId"]] = {
                        "operationId": op["operationId"], "parameters": {"id": "$response.body#/id"}}


def document(routes: Sequence[Route]) -> dict[str, Any]:
    bodies = sorted({r.body for r in routes if r.body is not None}, key=lambda t: t.__name__)
    _, components = msgspec.json.schema_components(bodies, ref_template="#/components/schemas/{name}")
    components = clean_descriptions(components)
    components["Error"] = _ERROR
    paths: dict[str, dict[str, Any]] = {}
    for r in routes:
        op: dict[str, Any] = {
            "operationId": r.method.lower() + "_" + re.sub(r"[^a-z0-9]+", "_", r.template.lower()).strip("_"),
            "summary": r.summary,
            "responses": {str(s): _response(r, s) for s in r.statuses()},
            "security": [{"operator": []}] if r.needs_token else [],
        }
        patterns = r.param_patterns
        params: list[dict[str, Any]] = [
            {"name": p, "in": "path", "required": True,
             "schema": {"type": "string", "minLength": 1, "maxLength": 128}
             | ({"pattern": f"^{patterns[p]}$"} if p in patterns else {})}
            for p in r.params
        ]
        if r.query is not None:
            params += _query_parameters(r.query)
        if r.if_match:
            params.append({"name": "If-Match", "in": "header", "required": False, "schema": {"type": "string"},
                           "description": "the ETag last read; a stale one gets 412 and changes nothing"})
        if params:
            op["parameters"] = params
        if r.body is not None:
            content: dict[str, Any] = {"schema": {"$ref": f"#/components/schemas/{r.body.__name__}"}}
            if r.example is not None:
                content["example"] = r.example
            op["requestBody"] = {"required": True, "content": {JSON: content}}
        paths.setdefault(r.template, {})[r.method.lower()] = op
    _link(routes, paths)
    return {
        "openapi": "3.1.0",
        "info": {"title": "hitode node", "version": "1",
                 "description": "The HTTP API of one space's node in the hitode federation. Errors are "
                                "{\"error\": {\"code\", \"message\", \"field\"?}}."},
        "paths": paths,
        "components": {
            "schemas": components,
            "securitySchemes": {"operator": {"type": "http", "scheme": "bearer",
                                             "description": "the operator token in the data dir (operator.token)"}},
        },
    }
