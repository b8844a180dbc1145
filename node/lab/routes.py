"""HTTP handlers of the LAB under /api/lab/; the route table at the end.

Handlers only translate: decode and check the input once, call writing.py (the rules in
one transaction) or discussion.py (reads through this node's view), encode the answer.
Reads are public, like the calendar; writes need the operator token. A change to another
space's record is refused with 403 and changes nothing: labels change one's view instead.
One record's ETag is its version; an edit with If-Match of an older one (someone edited
meanwhile) changes nothing: 412.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, Final, Literal, TypeVar

import msgspec
from aiohttp import web

from node.context import Context
from node.lab import discussion, index, labels, writing
from node.lab.rules import find
from node.web.conditional import etag, if_match
from node.web.payload import decode_body, decode_query, json_response
from node.web.route import Route
from schemas.lab import (
    FollowInput, LabelInput, Post, PostEdit, PostInput, Report, ReportEdit, ReportInput, Theme, ThemeEdit, ThemeInput,
)

__all__ = ["ROUTES", "names", "ThemeQuery", "Shown", "SearchQuery"]

I = TypeVar("I", Theme, Post, Report)
_ID: Final = "{id:[A-Za-z0-9._:-]+}"


class Shown(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """`hidden=1`: also what this node's view hides, flagged (to moderate it)."""

    hidden: Annotated[int, msgspec.Meta(ge=0, le=1)] = 0


class ThemeQuery(Shown, frozen=True, kw_only=True, forbid_unknown_fields=True):
    status: Literal["open", "closed", "retracted"] | None = None
    tag: Annotated[str, msgspec.Meta(max_length=40)] | None = None


class SearchQuery(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    q: Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
    limit: Annotated[int, msgspec.Meta(ge=1, le=200)] = 50


async def names(node: Context) -> dict[str, str]:
    return {s["id"]: s["name"] for s in await node.directory.spaces()}


async def _one(node: Context, type_: type[I], record_id: str) -> web.Response:
    view = await labels.view(node.store, node.space)
    item, version = await find(node.store, type_, record_id)
    return json_response(discussion.item_view(item, version, await names(node), view), headers={"ETag": etag(version)})


async def list_themes(node: Context, request: web.Request) -> web.Response:
    q = decode_query(request, ThemeQuery)
    view = await labels.view(node.store, node.space)
    return json_response({"themes": await discussion.themes(node.store, await names(node), view, status=q.status,
                                                             tag=q.tag, hidden=bool(q.hidden))})


async def post_theme(node: Context, request: web.Request) -> web.Response:
    theme = await writing.open_theme(node.store, node.ident, await decode_body(request, ThemeInput), index.put)
    response = await _one(node, Theme, theme.id)
    response.set_status(201)
    return response


async def get_theme(node: Context, request: web.Request) -> web.Response:
    q = decode_query(request, Shown)
    found = await find(node.store, Theme, request.match_info["id"])
    view = await labels.view(node.store, node.space)
    return json_response(await discussion.theme(node.store, found, await names(node), view, hidden=bool(q.hidden)))


async def post_post(node: Context, request: web.Request) -> web.Response:
    inp = await decode_body(request, PostInput)
    post = await writing.write_post(node.store, node.ident, request.match_info["id"], inp, index.put)
    response = await _one(node, Post, post.id)
    response.set_status(201)
    return response


async def post_report(node: Context, request: web.Request) -> web.Response:
    inp = await decode_body(request, ReportInput)
    report = await writing.write_report(node.store, node.ident, request.match_info["id"], inp, index.put)
    response = await _one(node, Report, report.id)
    response.set_status(201)
    return response


Handler = Callable[[Context, web.Request], Awaitable[web.Response]]


def _getter(type_: type[I]) -> Handler:
    async def get(node: Context, request: web.Request) -> web.Response:
        return await _one(node, type_, request.match_info["id"])

    return get


def _editor(type_: type[I], edit: type[msgspec.Struct]) -> Handler:
    async def patch(node: Context, request: web.Request) -> web.Response:
        change = await decode_body(request, edit)
        item, _ = await writing.edit(node.store, node.ident, type_, request.match_info["id"], change, index.put,
                                     expect=if_match(request))
        return await _one(node, type_, item.id)

    return patch


def _retractor(type_: type[I]) -> Handler:
    async def retract(node: Context, request: web.Request) -> web.Response:
        item, _ = await writing.retract(node.store, node.ident, type_, request.match_info["id"], index.put)
        return await _one(node, type_, item.id)

    return retract


async def post_label(node: Context, request: web.Request) -> web.Response:
    lab, version = await writing.label(node.store, node.ident, await decode_body(request, LabelInput))
    out = dict(msgspec.to_builtins(lab), version=version)
    out.pop("type", None)
    return json_response(out, status=201)


async def get_labels(node: Context, request: web.Request) -> web.Response:
    view = await labels.view(node.store, node.space)
    return json_response({"labels": await labels.own(node.store, node.space),
                          "follows": list((await labels.follows(node.store)).values()), "view": view.says})


async def put_follow(node: Context, request: web.Request) -> web.Response:
    inp = await decode_body(request, FollowInput)
    space = request.match_info["id"]
    await node.directory.space(space)  # 404 for a space the directory does not know
    got = await labels.follow(node.store, node.space, space, inp.labels)
    return json_response(got or {"space": space, "labels": []})


async def get_follows(node: Context, request: web.Request) -> web.Response:
    return json_response({"follows": list((await labels.follows(node.store)).values())})


async def search(node: Context, request: web.Request) -> web.Response:
    q = decode_query(request, SearchQuery)
    view = await labels.view(node.store, node.space)
    return json_response({"q": q.q, "results": await index.search(node.store, q.q, await names(node), view, limit=q.limit)})


_THEME_EXAMPLE: Final = {"title": "学生料金をどうする? / Pricing for students", "question": "学生の利用を増やすには?",
                         "tags": ["pricing", "学生"]}
_REPORT_EXAMPLE: Final = {
    "title": "学生半額デー", "tried": "毎週金曜を学生半額にした", "where": "札幌", "when": "2026年11月", "cost": "3万円",
    "happened": "学生の来館が倍に", "numbers": [{"name": "学生の来館", "value": 42, "unit": "人"}],
    "again": "告知は大学の掲示板で", "links": ["https://sapporo.example.jp/lab/students"]}

ROUTES: Final = (
    Route(method="GET", path="/api/lab/themes", handler=list_themes, query=ThemeQuery,
          summary="LAB themes as this node's view shows them (filters: status, tag; hidden=1 to include hidden)"),
    Route(method="POST", path="/api/lab/themes", handler=post_theme, summary="Open a LAB theme (meeting: an event id)",
          body=ThemeInput, status=201, example=_THEME_EXAMPLE, creates=True),
    Route(method="GET", path=f"/api/lab/themes/{_ID}", handler=get_theme, query=Shown,
          summary="A theme with its posts (replies under them) and reports, in order, with their authors"),
    Route(method="PATCH", path=f"/api/lab/themes/{_ID}", handler=_editor(Theme, ThemeEdit), body=ThemeEdit, if_match=True,
          summary="Edit a theme of this space (403: another space's)", errors=(403, 409), example={"status": "closed"}),
    Route(method="POST", path=f"/api/lab/themes/{_ID}/retract", handler=_retractor(Theme),
          summary="Retract a theme of this space: its text is gone at every node", errors=(403, 409)),
    Route(method="POST", path=f"/api/lab/themes/{_ID}/posts", handler=post_post, body=PostInput, status=201,
          summary="Post in a theme, or reply to a post (one level deep); a member's name only if they chose",
          errors=(409,), example={"body": "神戸では平日昼の学生割を試しました。"}),
    Route(method="POST", path=f"/api/lab/themes/{_ID}/reports", handler=post_report, body=ReportInput, status=201,
          summary="Report an experiment this space ran for a theme", errors=(409,), example=_REPORT_EXAMPLE),
    Route(method="GET", path=f"/api/lab/posts/{_ID}", handler=_getter(Post), summary="One post"),
    Route(method="PATCH", path=f"/api/lab/posts/{_ID}", handler=_editor(Post, PostEdit), body=PostEdit, if_match=True,
          summary="Edit a post of this space (403: another space's)", errors=(403, 409), example={"body": "訂正します。"}),
    Route(method="POST", path=f"/api/lab/posts/{_ID}/retract", handler=_retractor(Post),
          summary="Retract a post of this space: its text is gone at every node", errors=(403, 409)),
    Route(method="GET", path=f"/api/lab/reports/{_ID}", handler=_getter(Report), summary="One experiment report"),
    Route(method="PATCH", path=f"/api/lab/reports/{_ID}", handler=_editor(Report, ReportEdit), body=ReportEdit, if_match=True,
          summary="Edit a report of this space (403: another space's)", errors=(403, 409), example={"cost": "5万円"}),
    Route(method="POST", path=f"/api/lab/reports/{_ID}/retract", handler=_retractor(Report),
          summary="Retract a report of this space: its text is gone at every node", errors=(403, 409)),
    Route(method="POST", path="/api/lab/labels", handler=post_label, body=LabelInput, status=201, errors=(404,),
          summary="Label a theme, post or report in this space's view (hide, pin, approve; undo takes it back)",
          example={"subject": "0193a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b", "label": "hide"}),
    Route(method="GET", path="/api/lab/labels", handler=get_labels,
          summary="This space's labels, the spaces whose labels it follows, and what its view says"),
    Route(method="GET", path="/api/lab/follows", handler=get_follows, summary="Spaces whose labels this node's view follows"),
    Route(method="PUT", path="/api/lab/follows/{id:[a-z0-9-]+}", handler=put_follow, body=FollowInput,
          summary="Follow the labels of another space (id: its space id; an empty list stops following)",
          example={"labels": ["hide"]}),
    Route(method="GET", path="/api/lab/search", handler=search, query=SearchQuery,
          summary="Search themes, posts and reports (Japanese words of two characters too), best first"),
)
