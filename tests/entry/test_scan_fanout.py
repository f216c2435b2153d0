"""Issue 13: a fleet scan's work items are queued round-robin by subscription, so the Functions host's
bounded workers spend every subscription's ARM budget in parallel instead of one subscription's at a time."""

from __future__ import annotations

from datetime import UTC, datetime

from remediators.entry.scan import interleaved_items
from remediators.resource_ids import parse_cache_id
from remediators.workitem import WorkItem

A = "6f1c7e3a-2b4d-4c1e-9f3a-0d2b8e5a7c11"
B = "0a1b2c3d-0000-4000-8000-00000000000b"


def _item(sub: str, name: str) -> WorkItem:
    cache = parse_cache_id(f"/subscriptions/{sub}/resourceGroups/rg/providers/Microsoft.Cache/Redis/{name}")
    return WorkItem(cache=cache, reason="scan", first_seen=datetime.now(UTC))


def test_items_are_interleaved_by_subscription_and_none_is_lost() -> None:
    items = [_item(A, "a1"), _item(A, "a2"), _item(A, "a3"), _item(B.upper(), "b1")]
    assert [i.cache.name for i in interleaved_items(items)] == ["a1", "b1", "a2", "a3"]
    assert interleaved_items([]) == []
