"""What of an untrusted message body may go into the audit trail: ids and a hash, never its text.

A poison message or a malformed work item can hold anything, including claims that name a person (UPN,
name, client IP). UK GDPR minimisation applies to them as to every other record, so the trail keeps the
SHA-256 of the body (a reviewer holding the message can prove it is the one meant), its size, and only
fields whose shape is an identifier: event ids, event types, ARM resource ids, work-item reasons.
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any

_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$")
# An ARM id's shape: ASCII path segments of the characters ARM allows in names, no `@` (so no UPN).
_ARM_ID = re.compile(r"^/subscriptions/[A-Za-z0-9-]{1,64}(/[A-Za-z0-9._()-]{1,260}){0,12}$")
_MAX_PARSE_BYTES = 64 * 1024
_MAX_EVENTS = 20


def body_digest(body: str | bytes) -> dict[str, Any]:
    """`{"body_sha256", "body_bytes"}` and, when the body is JSON, `ids`: the identifier-shaped fields."""
    raw = body.encode("utf-8", "surrogatepass") if isinstance(body, str) else bytes(body)
    out: dict[str, Any] = {"body_sha256": hashlib.sha256(raw).hexdigest(), "body_bytes": len(raw)}
    ids = _ids(raw)
    if ids:
        out["ids"] = ids
    return out


def safe_id(value: object) -> str | None:
    """`value` when it is shaped like an id (event id, type, ARM id), else None."""
    if isinstance(value, str) and (_ID.match(value) or _ARM_ID.match(value)):
        return value
    return None


def _ids(raw: bytes) -> list[dict[str, str]]:
    if len(raw) > _MAX_PARSE_BYTES:
        return []
    try:
        doc = json.loads(raw)
    except (ValueError, RecursionError):
        return []
    items = doc if isinstance(doc, list) else [doc]
    found = []
    for item in items[:_MAX_EVENTS]:
        if not isinstance(item, dict):
            continue
        picked = {
            key: value
            for key in ("id", "eventType", "type", "subject", "source", "cache_id", "reason", "scope")
            if (value := safe_id(item.get(key))) is not None
        }
        if picked:
            found.append(picked)
    return found
