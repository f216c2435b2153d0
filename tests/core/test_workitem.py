"""WorkItems round-trip and refuse anything malformed with the field named."""

from __future__ import annotations

import contextlib
import json
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from remediators.resource_ids import parse_cache_id
from remediators.workitem import InvalidWorkItem, WorkItem

CACHE = parse_cache_id(
    "/subscriptions/6f1c7e3a-2b4d-4c1e-9f3a-0d2b8e5a7c11/resourceGroups/rg/providers/Microsoft.Cache/Redis/c1"
)
T0 = datetime(2026, 11, 28, 9, 0, tzinfo=UTC)


def test_round_trip_and_deferral_keeps_first_seen() -> None:
    item = WorkItem(cache=CACHE, reason="event", first_seen=T0, trigger={"event_id": "e1"}, dry_run=True)
    assert WorkItem.from_json(item.to_json()) == item
    later = item.deferred(now=T0 + timedelta(minutes=5), delay_seconds=30)
    assert later.first_seen == T0 and later.attempt == 1 and later.reason == "deferred"
    assert later.not_before == T0 + timedelta(minutes=5, seconds=30)
    assert json.loads(later.to_json())["v"] == 1


@pytest.mark.parametrize(
    ("mutate", "field"),
    [
        (lambda d: d.update(v=2), "v"),
        (lambda d: d.update(cache_id="/subscriptions/x"), "cache_id"),
        (lambda d: d.update(reason="because"), "reason"),
        (lambda d: d.update(dry_run="yes"), "dry_run"),
        (lambda d: d.update(attempt=-1), "attempt"),
        (lambda d: d.update(first_seen="yesterday"), "first_seen"),
        (lambda d: d.update(trigger={"evil": "x"}), "trigger"),
        (lambda d: d.update(extra=1), "unknown fields"),
    ],
)
def test_invalid_fields_are_named(mutate, field: str) -> None:
    data = json.loads(WorkItem(cache=CACHE, reason="scan", first_seen=T0).to_json())
    mutate(data)
    with pytest.raises(InvalidWorkItem, match=field):
        WorkItem.from_json(json.dumps(data))


@given(st.binary(max_size=200))
def test_garbage_is_refused_not_crashed(raw: bytes) -> None:
    with contextlib.suppress(InvalidWorkItem):
        WorkItem.from_json(raw)
