"""Event intake: one parsed queue message -> at most one reconcile (design section 1).

Everything dropped here costs no ARM call: events the parser refused, other subscriptions, our own writes
(recognised by the caller's appid/oid), duplicate deliveries (by event id, checked under the cache's lease
from the row the reconcile reads anyway) and cache deletions each leave one audit record and stop. Anything
else becomes a `WorkItem` for `Engine.reconcile`; the event is only a hint, since the reconcile decides on
state read from ARM under the per-cache lease.
"""

from __future__ import annotations

import logging
from typing import Any

from ..models import Actor, CacheChange, IgnoredEvent
from ..workitem import WorkItem
from .reconcile import DUPLICATE, Engine, Outcome

log = logging.getLogger("redis_warden.engine")


class EventIntake:
    """Queue events in front of one `Engine`; `own_identity` is the warden's own appid/oid."""

    def __init__(self, engine: Engine, *, own_identity: Actor) -> None:
        self.engine = engine
        self.own = own_identity

    def handle_event(
        self, parsed: CacheChange | IgnoredEvent, *, dry_run: bool = False, source: str | None = None
    ) -> Outcome:
        """Turn one parsed event into at most one reconcile. Everything dropped here costs no ARM call.
        `dry_run` (with the `source` that asked for it) can only make the run drier."""
        if isinstance(parsed, IgnoredEvent):
            self._ignored(parsed.event_id, parsed.reason, parsed.subject, parsed.actor)
            return Outcome.IGNORED
        change = parsed
        if change.cache.subscription_id not in self.engine.subscriptions:
            self._ignored(change.event_id, "subscription not in WARDEN_SUBSCRIPTIONS", change.subject, change.actor)
            return Outcome.IGNORED
        if self._is_own(change.actor):
            self._ignored(change.event_id, "own write (caller is redis-warden's identity)", change.subject,
                          change.actor)
            return Outcome.IGNORED
        trigger = self._event_trigger(change)
        if change.is_delete and change.touches_cache_itself:
            if self.engine.state.event_seen(change.event_id, change.cache):
                self._ignored(change.event_id, DUPLICATE, change.subject, change.actor)
                return Outcome.IGNORED
            self.engine.audit.record("gone", cache_id=change.cache.arm_id, trigger=trigger,
                                     detail="cache deleted; nothing to remediate")
            self.engine.state.mark_event(change.event_id, change.cache)
            return Outcome.GONE
        flat = _flat_trigger(change)
        if source:
            flat["source"] = source
        item = WorkItem(
            cache=change.cache,
            reason="event",
            first_seen=self.engine.clock(),
            trigger={k: v for k, v in flat.items() if v},
            dry_run=dry_run,
        )
        # Duplicates are recognised under the cache's lease, from the row the reconcile reads anyway; an event
        # is marked handled in the same write as the last-seen snapshot, or here when the reconcile ended
        # without one (deferred, gone, refused).
        result = self.engine.reconcile(item, event_id=change.event_id)
        if result.outcome is Outcome.IGNORED and result.detail == DUPLICATE:
            self._ignored(change.event_id, DUPLICATE, change.subject, change.actor)
            return Outcome.IGNORED
        if not dry_run and not result.event_marked:  # a dry run must not use up the event: a later real run acts
            self.engine.state.mark_event(change.event_id, change.cache)
        return result.outcome

    def _is_own(self, actor: Actor) -> bool:
        own = self.own
        return bool(
            (own.app_id and actor.app_id and own.app_id.lower() == actor.app_id.lower())
            or (own.object_id and actor.object_id and own.object_id.lower() == actor.object_id.lower())
        )

    def _ignored(self, event_id: str | None, reason: str, subject: str | None, actor: Actor | None) -> None:
        log.info("ignored event %s: %s (%s)", event_id, reason, subject)
        self.engine.audit.record(
            "ignored-event",
            trigger={"event_id": event_id, "actor": actor.minimal(self.engine.record_upn) if actor else None},
            detail=reason,
            subject=subject,
        )

    def _event_trigger(self, change: CacheChange) -> dict[str, Any]:
        return {
            "event_id": change.event_id,
            "type": change.event_type,
            "correlation_id": change.correlation_id,
            "subject": change.subject,
            "actor": change.actor.minimal(self.engine.record_upn),
        }


def _flat_trigger(change: CacheChange) -> dict[str, str | None]:
    return {
        "event_id": change.event_id,
        "type": change.event_type,
        "correlation_id": change.correlation_id,
        "subject": change.subject,
        "actor_oid": change.actor.object_id,
        "actor_appid": change.actor.app_id,
    }
