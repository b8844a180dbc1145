"""The AsyncAPI 3.0 document of hitode's subjects, generated from the Structs.

The record kinds come from the features a node runs (node.app.contract passes them in:
`python -m node.app.contract` rewrites schemas/asyncapi.json); a test fails when the
committed file differs from what the Structs say, so the contract cannot drift silently.
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final

import msgspec

from schemas.envelope import MAX_ENVELOPE_BYTES, Envelope, Header, Sealed
from schemas.rpc import DmHead, Presence, SignedCall, SyncReply, SyncRequest
from schemas.ticket import Redemption

__all__ = ["document", "render", "PATH", "clean_descriptions"]

PATH: Final = Path(__file__).with_name("asyncapi.json")


def document(pub_kinds: Mapping[str, type[msgspec.Struct]], dm_kinds: Mapping[str, type[msgspec.Struct]]) -> dict[str, Any]:
    pub_kinds, dm_kinds = dict(sorted(pub_kinds.items())), dict(sorted(dm_kinds.items()))
    types: list[Any] = [Envelope, Header, Sealed, SignedCall, SyncRequest, SyncReply, Presence, DmHead, Redemption,
                        *pub_kinds.values(), *dm_kinds.values()]
    _, schemas = msgspec.json.schema_components(types, ref_template="#/components/schemas/{name}")
    schemas = clean_descriptions(schemas)
    channels: dict[str, Any] = {}
    messages: dict[str, Any] = {}

    def message(name: str, payload: str, summary: str) -> dict[str, Any]:
        messages[name] = {
            "name": name,
            "summary": summary,
            "contentType": "application/msgpack",
            "payload": {"$ref": f"#/components/schemas/{payload}"},
        }
        return {"$ref": f"#/components/messages/{name}"}

    for kind, t in pub_kinds.items():
        channels[f"pub.{kind}"] = {
            "address": f"hitode.pub.{kind}.{{author}}",
            "description": f"Broadcast {kind} records (stream HITODE). The envelope's signed "
            f"body decodes to {t.__name__}.",
            "parameters": {"author": {"description": "the author's space id"}},
            "messages": {kind: message(f"{kind}Envelope", "Envelope", f"A signed {t.__name__}")},
        }
    for kind, t in dm_kinds.items():
        channels[f"dm.{kind}"] = {
            "address": f"hitode.dm.{{to}}.{kind}.{{author}}",
            "description": f"{kind} records for one space (stream HITODE); the body is a Sealed "
            f"box whose plaintext decodes to {t.__name__}.",
            "parameters": {"to": {"description": "the recipient's space id"},
                           "author": {"description": "the author's space id"}},
            "messages": {kind: message(f"{kind}Envelope", "Envelope", f"A signed, sealed {t.__name__}")},
        }
    channels["rpc.sync"] = {
        "address": "hitode.rpc.{to}.sync",
        "description": "Request/reply on core NATS: records of an author on a channel after a seq.",
        "parameters": {"to": {"description": "the space asked"}},
        "messages": {
            "request": message("syncRequest", "SignedCall", "A SignedCall whose payload is a SyncRequest"),
            "reply": message("syncReply", "SyncReply", "Raw envelopes in seq order"),
        },
    }
    channels["rpc.head"] = {
        "address": "hitode.rpc.{to}.head",
        "description": "Core NATS, no reply: an author tells one recipient how far the dm chain to it goes.",
        "parameters": {"to": {"description": "the recipient"}},
        "messages": {"head": message("dmHead", "SignedCall", "A SignedCall whose payload is a DmHead")},
    }
    channels["ticket"] = {
        "address": "hitode.ticket.{ticket}",
        "description": "A common ticket's redemption (stream TICKETS: one message per subject, never replaced, "
        "deleted or aged out). Published with Nats-Msg-Id = the attempt and Nats-Expected-Last-Subject-Sequence: 0; "
        "the first stored is the ticket's one redemption, read back by direct get.",
        "parameters": {"ticket": {"description": "the ticket's id (a UUID)"}},
        "messages": {"redemption": message("ticketRedemption", "SignedCall",
                                           "A SignedCall (tag hitode/v1/ticket-redemption) whose payload is a "
                                           "Redemption")},
    }
    channels["presence"] = {
        "address": "hitode.presence.{space}",
        "description": "Heartbeat on core NATS, not stored.",
        "parameters": {"space": {"description": "the space beating"}},
        "messages": {"beat": message("presence", "SignedCall", "A SignedCall whose payload is a Presence")},
    }
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "hitode federation bus",
            "version": "1",
            "description": "Envelope = {signed, sig, key}; signed = b'hitode/v1\\0' + MessagePack"
            f"(Signed[header, body]); at most {MAX_ENVELOPE_BYTES} bytes.",
        },
        "defaultContentType": "application/msgpack",
        "channels": channels,
        "components": {"schemas": schemas, "messages": messages},
    }


def clean_descriptions(node: Any) -> Any:
    """Every `description` taken from a docstring, cleaned here (`inspect.cleandoc`).

    msgspec 0.22 stripped docstring indentation and 0.23 keeps it; the generated contract
    must not depend on which one is installed.
    """
    if isinstance(node, dict):
        return {
            k: inspect.cleandoc(v) if k == "description" and isinstance(v, str) else clean_descriptions(v)
            for k, v in node.items()
        }
    if isinstance(node, list):
        return [clean_descriptions(v) for v in node]
    return node


def render(pub_kinds: Mapping[str, type[msgspec.Struct]], dm_kinds: Mapping[str, type[msgspec.Struct]]) -> str:
    return json.dumps(document(pub_kinds, dm_kinds), indent=2, ensure_ascii=False, sort_keys=True) + "\n"
