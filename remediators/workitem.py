"""WorkItem: the versioned JSON message on `warden-work` (design section 5).

A WorkItem names a cache and why it should be reconciled; it never carries cache state, so a replayed or
forged item can at most cause one more read-evaluate cycle under the lease. Deferral budgets are measured
from `first_seen` in elapsed time, not in dequeues.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from .resource_ids import InvalidResourceId, ResourceId, parse_cache_id

Reason = Literal["event", "scan", "deferred"]
_REASONS = ("event", "scan", "deferred")
# `subject` is carried by event-triggered items (drift attribution); without it a deferred event's WorkItem
# would be refused as invalid when it comes back, and the event lost (found by tests/reliability chaos).
_TRIGGER_KEYS = {"event_id", "type", "correlation_id", "subject", "actor_oid", "actor_appid", "scan_id", "source"}
MAX_WORKITEM_BYTES = 16 * 1024


class InvalidWorkItem(ValueError):
    """The message is not a valid WorkItem; the message says which field."""


@dataclass(frozen=True)
class WorkItem:
    cache: ResourceId
    reason: Reason
    first_seen: datetime
    trigger: Mapping[str, str] = field(default_factory=dict)
    dry_run: bool = False
    attempt: int = 0
    not_before: datetime | None = None
    v: int = 1

    def deferred(self, *, now: datetime, delay_seconds: int) -> WorkItem:
        """The follow-up item for a deferral: same cache, trigger and first_seen, one more attempt."""
        return replace(
            self,
            reason="deferred",
            attempt=self.attempt + 1,
            not_before=now + timedelta(seconds=delay_seconds),
        )

    def to_json(self) -> str:
        body: dict[str, Any] = {
            "v": self.v,
            "cache_id": self.cache.arm_id,
            "reason": self.reason,
            "trigger": dict(self.trigger),
            "dry_run": self.dry_run,
            "attempt": self.attempt,
            "first_seen": _iso(self.first_seen),
            "not_before": _iso(self.not_before) if self.not_before else None,
        }
        return json.dumps(body, separators=(",", ":"), sort_keys=True)

    @classmethod
    def from_json(cls, text: str | bytes) -> WorkItem:
        if len(text) > MAX_WORKITEM_BYTES:
            raise InvalidWorkItem(f"message larger than {MAX_WORKITEM_BYTES} bytes")
        try:
            data = json.loads(text)
        except (ValueError, UnicodeDecodeError) as exc:
            raise InvalidWorkItem(f"not JSON: {exc}") from None
        if not isinstance(data, dict):
            raise InvalidWorkItem("not a JSON object")
        if data.get("v") != 1:
            raise InvalidWorkItem(f"v: unsupported version {data.get('v')!r}")
        unknown = set(data) - {"v", "cache_id", "reason", "trigger", "dry_run", "attempt", "first_seen", "not_before"}
        if unknown:
            raise InvalidWorkItem(f"unknown fields: {', '.join(sorted(unknown))}")
        try:
            cache = parse_cache_id(data.get("cache_id"))
        except InvalidResourceId as exc:
            raise InvalidWorkItem(f"cache_id: {exc}") from None
        reason = data.get("reason")
        if reason not in _REASONS:
            raise InvalidWorkItem(f"reason: must be one of {', '.join(_REASONS)}")
        trigger = data.get("trigger", {})
        if not isinstance(trigger, dict) or not all(
            k in _TRIGGER_KEYS and (v is None or isinstance(v, str)) for k, v in trigger.items()
        ):
            raise InvalidWorkItem("trigger: must be an object of known string fields")
        dry_run = data.get("dry_run", False)
        if not isinstance(dry_run, bool):
            raise InvalidWorkItem("dry_run: must be true or false")
        attempt = data.get("attempt", 0)
        if not isinstance(attempt, int) or isinstance(attempt, bool) or not 0 <= attempt <= 10_000:
            raise InvalidWorkItem("attempt: must be a small non-negative integer")
        first_seen = _parse_time(data.get("first_seen"), "first_seen")
        nb = data.get("not_before")
        return cls(
            cache=cache,
            reason=reason,
            first_seen=first_seen,
            trigger={k: v for k, v in trigger.items() if v is not None},
            dry_run=dry_run,
            attempt=attempt,
            not_before=_parse_time(nb, "not_before") if nb is not None else None,
        )


def _iso(t: datetime) -> str:
    return t.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _parse_time(raw: object, name: str) -> datetime:
    if not isinstance(raw, str):
        raise InvalidWorkItem(f"{name}: must be an ISO 8601 UTC time")
    try:
        t = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        raise InvalidWorkItem(f"{name}: must be an ISO 8601 UTC time") from None
    if t.tzinfo is None:
        raise InvalidWorkItem(f"{name}: must carry a time zone")
    return t.astimezone(UTC)
