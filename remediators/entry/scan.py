"""Enumerate a scope into WorkItems: queued for the workers (HTTP, timer) or reconciled in-process (CLI).

A scan is only a list of caches to look at; each cache is then reconciled exactly like an event would make
it, under its lease. The last cache done writes `scan-finished` and a checkpoint.

A subscription, resource group or cache is listed with ARM's list calls (one per resource kind). Several
subscriptions or a management group (`FleetScope`) are listed with one Azure Resource Graph query
(`arm.graph`): only subscriptions in WARDEN_SUBSCRIPTIONS are taken from it, and every row it refuses is
audited. When ARG cannot answer a multi-subscription scan, each subscription is listed with ARM instead; a
management group has no such fallback (the warden does not read the group's membership itself).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from ..arm.bodies import Listed
from ..arm.gateway import ArmError
from ..engine.reconcile import Outcome, ReconcileResult
from ..resource_ids import CacheKind, FleetScope, ResourceId, Scope
from ..settings import WORK_QUEUE
from ..state.storage import send_text
from ..workitem import WorkItem
from .runtime import Runtime


class ScopeNotAllowed(PermissionError):
    """The scope's subscription is not in WARDEN_SUBSCRIPTIONS."""


ScanScope = Scope | FleetScope


def check_scope(rt: Runtime, scope: ScanScope) -> None:
    subs = scope.subscriptions if isinstance(scope, FleetScope) else (scope.subscription_id,)
    for sub in subs:
        if sub.lower() not in rt.settings.subscriptions:
            raise ScopeNotAllowed(f"subscription {sub} is not in WARDEN_SUBSCRIPTIONS")


def _list(rt: Runtime, scope: ScanScope, *, scan_id: str,
          source: str) -> tuple[list[ResourceId], dict[str, ArmError], int]:
    """(caches, failed listings by name, listings attempted)."""
    trigger = {"scan_id": scan_id, "source": source}
    if isinstance(scope, Scope):
        if scope.cache is not None:
            return [scope.cache], {}, 1
        listing = rt.gateway.list_caches_by_kind(scope)
        _record_refused_ids(rt, scope, listing.refused, trigger)
        return list(listing.caches), dict(listing.failed), len(rt.gateway.services)
    allowed = frozenset(scope.subscriptions) if scope.subscriptions else rt.settings.subscriptions
    try:
        listing = rt.gateway.list_fleet(scope, allowed)
    except ArmError as exc:
        if scope.management_group is not None:
            raise
        rt.audit.record("alert", scan_id=scan_id, trigger=trigger,
                        detail=f"Resource Graph could not list {scope.arm_id}; each subscription is listed with ARM",
                        outcome={"status": "graph-failed", "code": exc.code, "http_status": exc.status,
                                 "error": exc.message})
        caches: list[ResourceId] = []
        failures: dict[str, ArmError] = {}
        for sub in scope.subscriptions:
            by_kind = rt.gateway.list_caches_by_kind(Scope(sub))
            _record_refused_ids(rt, Scope(sub), by_kind.refused, trigger)
            caches += by_kind.caches
            failures.update({f"{kind} in /subscriptions/{sub}": e for kind, e in by_kind.failed.items()})
        return caches, failures, len(rt.gateway.services) * len(scope.subscriptions)
    if listing.refused_count:
        rt.audit.record("alert", scan_id=scan_id, trigger=trigger,
                        detail=f"Resource Graph answered {listing.refused_count} row(s) for {scope.arm_id} that are "
                               "not caches in scope; refused, never scanned",
                        outcome={"status": "rows-refused", "count": listing.refused_count,
                                 "refused": [{"reason": r.reason, "id": r.row_id} for r in listing.refused]})
    if any("log_alert_rules" in rt.baseline.needs(kind) for kind in CacheKind):
        _offer_log_alert_rules(rt, scope, allowed, trigger)
    return interleaved([c.cache for c in listing.caches]), {}, 1


def _offer_log_alert_rules(rt: Runtime, scope: FleetScope, allowed: frozenset[str], trigger: Mapping[str, str]) -> None:
    """The scope's scheduled query rules (auth-alerts) with one Resource Graph query for the whole scan, instead
    of one ARM list per subscription (issue 13: 50 reads on a 50-subscription scan). When ARG cannot answer, each
    subscription's are listed with ARM by its first cache, as before; refused rows are audited, never used."""
    scan_id = trigger["scan_id"]
    try:
        listing = rt.gateway.offer_fleet_log_alert_rules(scope, allowed, scan_id)
    except ArmError as exc:
        rt.audit.record("alert", scan_id=scan_id, trigger=dict(trigger),
                        detail=f"Resource Graph could not list the scheduled query rules of {scope.arm_id}; each "
                               "subscription's are listed with ARM",
                        outcome={"status": "graph-failed", "code": exc.code, "http_status": exc.status,
                                 "error": exc.message})
        return
    if listing.refused_count:
        rt.audit.record("alert", scan_id=scan_id, trigger=dict(trigger),
                        detail=f"Resource Graph answered {listing.refused_count} scheduled query rule row(s) for "
                               f"{scope.arm_id} that are not rules in scope; refused, never used",
                        outcome={"status": "rows-refused", "count": listing.refused_count,
                                 "refused": [{"reason": r.reason, "id": r.row_id} for r in listing.refused]})


def _record_refused_ids(rt: Runtime, scope: Scope, refused: Mapping[str, Listed], trigger: Mapping[str, str]) -> None:
    """Ids in ARM's list answers that were refused (outside ARM's grammar or the scope listed), on the record
    as Resource Graph's refused rows are: one `alert` per kind, never scanned."""
    for kind, listed in refused.items():
        rt.audit.record("alert", scan_id=trigger["scan_id"], trigger=dict(trigger),
                        detail=f"ARM's list of {kind} in {scope.arm_id} held {listed.refused_count} id(s) outside "
                               "ARM's grammar or the scope; refused, never scanned",
                        outcome={"status": "rows-refused", "kind": kind, "count": listed.refused_count,
                                 "refused": [{"reason": r.reason, "id": r.row_id} for r in listed.refused]})


def interleaved(caches: list[ResourceId]) -> list[ResourceId]:
    """Round-robin by subscription: ARG answers in id order, one subscription after another, and ARM's read
    buckets are per subscription, so taking them in turn spreads a scan's reads over every bucket at once."""
    by_sub: dict[str, list[ResourceId]] = {}
    for cache in caches:
        by_sub.setdefault(cache.subscription_id, []).append(cache)
    queues = list(by_sub.values())
    out: list[ResourceId] = []
    for i in range(max((len(q) for q in queues), default=0)):
        out += [q[i] for q in queues if i < len(q)]
    return out


class ListingFailed(Exception):
    """Nothing in the scope could be listed, so the scan did not start. Already on the record: one `alert`
    per listing that failed (`record_listing_failures`), for every trigger alike (HTTP, timer, CLI)."""

    def __init__(self, scope: ScanScope, failed: Mapping[str, ArmError]) -> None:
        super().__init__("listing caches failed: " + "; ".join(
            f"ARM {exc.kind} {exc.code or ''} {exc.message} [{kind} in {scope.arm_id}]"
            for kind, exc in failed.items()))
        self.scope = scope
        self.failed = dict(failed)

    @property
    def scope_not_found(self) -> bool:
        """ARM said every listing's scope does not exist (404: ResourceGroupNotFound, SubscriptionNotFound):
        the request named a scope that is not there, not a failure of ours or of ARM's."""
        return bool(self.failed) and all(exc.kind == "gone" for exc in self.failed.values())

    def public(self) -> dict[str, Any]:
        """What a caller over HTTP is told: what failed, in words, with ARM's status and code, but not ARM's
        message (it may quote a hostile host, our endpoint or anything a crafted answer held)."""
        return {
            "error": f"listing caches failed in {self.scope.arm_id}, so no scan was started; "
                     "the failure is on the audit trail as an alert",
            "scope": self.scope.arm_id,
            "listingFailed": {kind: public_reason(exc) for kind, exc in self.failed.items()},
        }


# Refusals of a hostile or broken answer, in words a caller can act on (our codes, not ARM's).
_PUBLIC_REASONS = {
    "OffEndpointRequest": "a link in ARM's answer pointed off the ARM endpoint; it was not followed",
    "PagingCut": "ARM's paging did not end (a repeated nextLink, or more pages or items than allowed); "
                 "the list was cut and not used",
    "MalformedAnswer": "ARM's answer did not have the documented shape; it was not used",
}


def public_reason(exc: ArmError) -> str:
    if exc.code in _PUBLIC_REASONS:
        return f"{_PUBLIC_REASONS[exc.code]} ({exc.code})"
    if exc.status is not None:
        return f"ARM answered {exc.status} {exc.code or ''}".rstrip()
    return f"ARM {exc.kind} ({exc.code or 'no code'})"


def record_listing_failures(rt: Runtime, scope: ScanScope, failed: Mapping[str, ArmError], *, scan_id: str,
                            source: str, complete: bool) -> None:
    """One `alert` per listing that failed, with ARM's error: the one record every trigger writes for a cut
    or refused listing (`complete`: nothing could be listed, so the scan did not start)."""
    effect = ("no cache could be listed, so the scan did not start" if complete
              else "the scan covers the other kinds only")
    for kind, exc in failed.items():
        rt.audit.record("alert", scan_id=scan_id, trigger={"scan_id": scan_id, "source": source},
                        detail=f"{source} scan: listing {kind} in {scope.arm_id} failed; {effect}",
                        outcome={"status": "list-failed", "kind": kind, "code": exc.code, "http_status": exc.status,
                                 "error": exc.message})


def scan_items(rt: Runtime, scope: ScanScope, *, scan_id: str, dry_run: bool,
               source: str) -> tuple[list[WorkItem], dict[str, str]]:
    """One WorkItem per cache of every kind that could be listed, and the listings that failed (each audited
    as an `alert` with ARM's error). When every listing failed, `ListingFailed` (after those alerts)."""
    check_scope(rt, scope)
    try:
        caches, failed, attempted = _list(rt, scope, scan_id=scan_id, source=source)
    except ArmError as exc:  # a management group that Azure Resource Graph could not list (no fallback)
        caches, failed, attempted = [], {"Azure Resource Graph": exc}, 1
    complete = bool(failed) and not caches and len(failed) == attempted
    if failed:
        record_listing_failures(rt, scope, failed, scan_id=scan_id, source=source, complete=complete)
    if complete:
        raise ListingFailed(scope, failed)
    failures = {kind: f"{exc.status or ''} {exc.code or exc.kind}".strip() for kind, exc in failed.items()}
    now = datetime.now(UTC)
    return [
        WorkItem(cache=c, reason="scan", first_seen=now, trigger={"scan_id": scan_id, "source": source},
                 dry_run=dry_run)
        for c in caches
    ], failures


def start_scan(rt: Runtime, scope: ScanScope, *, dry_run: bool, source: str) -> tuple[str, int]:
    """Queue one WorkItem per cache in scope on `warden-work`; returns (scan id, cache count). The scan's
    progress row records the dry-run in force and its sources (`GET /api/scans/{id}`)."""
    scan_id, items = open_scan(rt, scope, dry_run=dry_run, source=source)
    enqueue_scans(rt, [(scan_id, items)])
    return scan_id, len(items)


def open_scan(rt: Runtime, scope: ScanScope, *, dry_run: bool, source: str) -> tuple[str, list[WorkItem]]:
    """List the scope and write the scan's progress row and `scan-started`; the items are not queued yet."""
    scan_id = str(uuid.uuid4())
    items, _failures = scan_items(rt, scope, scan_id=scan_id, dry_run=dry_run, source=source)
    sources = rt.engine.dry_run.requested(dry_run, source)
    # The row keeps the request's own dry-run (work items take their authority from it) and the sources.
    rt.state.start_scan(scan_id, scope.arm_id, len(items), dry_run=dry_run, members=[i.cache for i in items],
                        dry_run_sources=sources)
    rt.audit.record("scan-started", scan_id=scan_id, detail=f"{source} scan of {scope.arm_id}",
                    trigger={"scan_id": scan_id, "source": source}, cache_count=len(items), dry_run=bool(sources),
                    dry_run_sources=list(sources))
    return scan_id, items


def interleaved_items(items: Iterable[WorkItem]) -> list[WorkItem]:
    """Work items of several scans taken round-robin by subscription (as `interleaved` does for one listing):
    queued one subscription's scan after another's, every worker of the host would wait on the first
    subscription's bucket while the others sat full, so a fleet scan took the sum of the subscriptions'
    refill times, not the longest."""
    by_subscription: dict[str, list[WorkItem]] = {}
    for item in items:
        by_subscription.setdefault(item.cache.subscription_id.lower(), []).append(item)
    lanes = list(by_subscription.values())
    return [lane[i] for i in range(max(map(len, lanes), default=0)) for lane in lanes if i < len(lane)]


def enqueue_scans(rt: Runtime, scans: Sequence[tuple[str, list[WorkItem]]]) -> None:
    """Queue the items of opened scans on `warden-work`, interleaved by subscription; the Functions host
    runs them with host.json's bounded concurrency per instance and scales out on the queue, each request
    paced by its subscription's budget (arm.pacing). A scan with nothing to do finishes now."""
    queue = rt.queue(WORK_QUEUE)
    for item in interleaved_items(item for _, items in scans for item in items):
        send_text(queue, item.to_json())
    for scan_id, items in scans:
        if not items:
            finish_scan(rt, scan_id)


def finish_scan(rt: Runtime, scan_id: str) -> None:
    progress = rt.state.scan(scan_id)
    rt.audit.record("scan-finished", scan_id=scan_id, trigger={"scan_id": scan_id},
                    outcomes=dict(progress.outcomes) if progress else {},
                    cache_count=progress.total if progress else 0)
    rt.audit.checkpoint()


def record_scan_result(rt: Runtime, item: WorkItem, result: ReconcileResult) -> None:
    """Count a scanned cache as done unless it was only deferred (its follow-up item carries the scan id)."""
    scan_id = item.trigger.get("scan_id")
    if not scan_id or result.outcome is Outcome.DEFERRED:
        return
    if rt.state.cache_done(scan_id, item.cache, str(result.outcome)):
        finish_scan(rt, scan_id)


# ---------------------------------------------------------------------------------------------- CLI scan


@dataclass
class MemoryDeferrer:
    """Deferred items kept in memory for the CLI's bounded retry loop: (due, item) on `clock`'s time."""

    pending: list[tuple[float, WorkItem]] = field(default_factory=list)
    given_up: list[tuple[WorkItem, str]] = field(default_factory=list)
    clock: Callable[[], float] = time.monotonic

    def defer(self, item: WorkItem, delay_seconds: int) -> None:
        self.pending.append((self.clock() + delay_seconds, item))

    def give_up(self, item: WorkItem, reason: str) -> None:
        self.given_up.append((item, reason))


def needing_attention(result: ReconcileResult) -> ReconcileResult:
    """The result as a scan report keeps it. A `compliant` cache (nothing to write; audit-only findings may be
    open) keeps its outcome only; any other keeps its findings that are not compliant (non-compliant, unknown).
    Nothing is lost: every evaluation is on the audit trail (`evaluated` with every rule's status, `detected`
    for each non-compliant or unknown finding). Kept whole, a compliant rescan held about 15 findings per cache
    for the whole scan, most of its memory growth: about 5 MB per 1,000 caches (tracemalloc over
    bench/fleet_scan.py)."""
    if result.outcome is Outcome.COMPLIANT:
        return replace(result, findings=()) if result.findings else result
    kept = tuple(f for f in result.findings if not f.status.is_compliant)
    return result if len(kept) == len(result.findings) else replace(result, findings=kept)


@dataclass(frozen=True)
class ScanReport:
    scan_id: str
    results: tuple[ReconcileResult, ...]  # each cache's outcome; findings as `needing_attention` keeps them
    still_deferred: tuple[WorkItem, ...]
    dry_run_sources: tuple[str, ...] = ()  # empty: the scan remediated
    listing_failures: Mapping[str, str] = field(default_factory=dict)  # resource kind -> ARM's error


def run_scan(
    rt: Runtime,
    deferrer: MemoryDeferrer,
    scope: ScanScope,
    *,
    dry_run: bool,
    retry_for_seconds: float = 120.0,
    progress: Callable[[int, int, ReconcileResult], None] | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> ScanReport:
    """Reconcile every cache in scope in this process. A deferred cache is retried when its deferral is due,
    for `retry_for_seconds` counted from its own first deferral (not from the start of the scan, which left
    the caches deferred late in a long scan no retry at all), then reported as still deferred. The deferrer's
    clock is the loop's clock."""
    scan_id = str(uuid.uuid4())
    items, failures = scan_items(rt, scope, scan_id=scan_id, dry_run=dry_run, source="cli")
    sources = rt.engine.dry_run.requested(dry_run, "cli")
    rt.audit.record("scan-started", scan_id=scan_id, detail=f"cli scan of {scope.arm_id}",
                    trigger={"scan_id": scan_id, "source": "cli"}, cache_count=len(items), dry_run=bool(sources),
                    dry_run_sources=list(sources))
    final: dict[str, ReconcileResult] = {}
    window_ends: dict[str, float] = {}  # cache key -> end of its retry window (first deferral + retry_for)
    still: list[WorkItem] = []
    queue = list(items)
    total = len(items)
    while True:
        for item in queue:
            result = rt.engine.reconcile(item)
            if result.outcome is Outcome.DEFERRED:
                window_ends.setdefault(item.cache.key, deferrer.clock() + retry_for_seconds)
            else:
                final[item.cache.key] = needing_attention(result)
                if progress:
                    progress(len(final), total, result)
        queue = []
        if not deferrer.pending:
            break
        deferrer.pending.sort(key=lambda p: p[0])
        due, item = deferrer.pending.pop(0)
        if due > window_ends.get(item.cache.key, due):
            still.append(item)  # its window closes before it is due: reported, not waited for
            continue
        sleep(max(0.0, due - deferrer.clock()))
        queue = [item]
    deferrer.pending.clear()
    outcomes: dict[str, int] = {}
    for r in final.values():
        outcomes[str(r.outcome)] = outcomes.get(str(r.outcome), 0) + 1
    if still:
        outcomes["deferred"] = len(still)
    rt.audit.record("scan-finished", scan_id=scan_id, trigger={"scan_id": scan_id, "source": "cli"},
                    outcomes=outcomes, cache_count=total)
    rt.audit.checkpoint()
    return ScanReport(scan_id, tuple(final.values()), tuple(still), sources, failures)
