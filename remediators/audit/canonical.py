"""Canonical JSON: one byte string per value, so a hash computed by the writer can be recomputed by any
verifier, in any process, years later.

Keys are sorted, there is no insignificant whitespace, text is UTF-8 (not \\u-escaped) and NaN/Infinity are
refused because JSON has no portable spelling for them. Callers hand in arbitrary engine values
(dataclasses, enums, datetimes, resource ids); `to_jsonable` turns them into plain JSON first so the record
that is hashed is exactly the record that is stored.
"""

from __future__ import annotations

import dataclasses
import enum
import hashlib
import json
from collections.abc import Mapping, Set
from datetime import UTC, date, datetime
from typing import Any


def format_utc(moment: datetime) -> str:
    """ISO 8601 in UTC with microseconds and a `Z`: fixed width, so text order is time order."""
    if moment.tzinfo is None:
        raise ValueError("audit times must be timezone-aware")
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_utc(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


def to_jsonable(value: Any) -> Any:
    """Plain JSON data for `value`; raises TypeError for anything that has no faithful JSON form."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            raise TypeError("NaN and infinity have no canonical JSON form")
        return value
    if isinstance(value, enum.Enum):
        return to_jsonable(value.value)
    if isinstance(value, datetime):
        return format_utc(value)
    if isinstance(value, date):
        return value.isoformat()
    if hasattr(value, "arm_id") and isinstance(value.arm_id, str):
        return value.arm_id
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Mapping):
        out: dict[str, Any] = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise TypeError(f"JSON object keys must be strings, got {type(key).__name__}")
            out[key] = to_jsonable(item)
        return out
    if isinstance(value, list | tuple):
        return [to_jsonable(item) for item in value]
    if isinstance(value, Set):
        return sorted((to_jsonable(item) for item in value), key=canonical_json)
    raise TypeError(f"cannot record a {type(value).__name__} in the audit trail")


def canonical_json(value: Any) -> bytes:
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode("utf-8")


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
