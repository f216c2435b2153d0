"""What a WorkItem from the queue may claim: nothing the state table does not vouch for.

Anyone with a queue data role can put a message on `warden-work`. The cache id is only a hint (the
reconcile reads ARM under the lease, so a hint costs at most one read); everything that carries
authority is taken from the state table instead:

* the event's caller, subject, type and correlation id (drift attribution) and its first-seen time come
  from the row noted when the event's reconcile was deferred, for that event id *and* that cache; an item
  naming an event never noted keeps the event id as a hint only, so its drift is `unknown`;
* a scan id is kept only when that scan listed the cache when it started (a forged item cannot count a
  cache towards someone else's scan, or finish it); the scan's own dry-run setting applies too;
* `first_seen` is never later than now, nor later than the noted first sighting (the deferral budget
  cannot be extended by a message that claims to be newer).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from ..state.store import StateStore
from ..workitem import WorkItem

# Keys an event-triggered item's trigger may carry once vouched for (the rest is dropped).
_EVENT_KEYS = ("event_id", "type", "correlation_id", "subject", "actor_oid", "actor_appid", "source")


def vouched(item: WorkItem, state: StateStore, now: datetime) -> WorkItem:
    """`item` with its trigger, first_seen and dry-run reduced to what the state table vouches for."""
    claimed = dict(item.trigger)
    trigger: dict[str, str] = {}
    first_seen = min(item.first_seen, now)
    dry_run = item.dry_run
    event_id = claimed.get("event_id")
    if event_id:
        noted = state.event_trigger(event_id, item.cache)
        if noted is None:
            trigger["event_id"] = event_id  # a hint: attribution stays unknown
        else:
            stored, noted_first = noted
            trigger.update({k: v for k, v in stored.items() if k in _EVENT_KEYS and v})
            first_seen = min(first_seen, noted_first)
    scan_id = claimed.get("scan_id")
    if scan_id and state.is_scan_member(scan_id, item.cache):
        trigger["scan_id"] = scan_id
        if claimed.get("source"):
            trigger.setdefault("source", claimed["source"])
        dry_run = dry_run or state.scan_dry_run(scan_id)
    return replace(item, trigger=trigger, first_seen=first_seen, dry_run=dry_run)
