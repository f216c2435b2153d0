"""Reconcile one cache: lease, fresh read, pure evaluation, safe plan, audited writes (design section 1).

Events reach it through `engine.intake`; scans, the work queue and the CLI hand it a `WorkItem` directly.

The event that led here is only a hint. Every write is decided on state read from ARM under the per-cache
lease, so duplicates, reordering, replays, concurrent workers and forged events cannot make it do harm. The
lease is taken only when a write is planned (issue 13: a compliant event cost two blob calls for it): a
reconcile reads the cache's row, reads ARM and evaluates without it; if the plan writes, it takes the lease
and reads the row again, and goes on from what it read only if the row's etag is unchanged. Every write of
ours changes the row first (`open_intent`), so an unchanged etag means no write of ours ran since that read;
a changed one (or an open intent or pending fix on the row) means a full pass under the lease. Without the
lease, the last-seen write is conditional on the etag read (a conflict re-reads and applies it again).
Every way out of `reconcile` leaves an audit record: remediated, deferred (re-enqueued), blocked, gone,
skipped (dry-run/exempt) or manual.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Protocol

from ..arm.gateway import ArmError, Gateway
from ..arm.pipeline import arm_correlation
from ..baseline import Baseline
from ..dataplane.reader import KeyExpiryReader, SampleOutcome
from ..inputs import is_scan, snapshot_inputs
from ..models import (
    CacheSnapshot,
    DeleteFirewallRule,
    Effect,
    Finding,
    FirewallFix,
    ManualAction,
    ManualFix,
    PatchCache,
    PatchDatabase,
    PutDiagnosticSetting,
    PutFirewallRule,
    PutMetricAlert,
    Status,
    Step,
)
from ..planning.planner import plan
from ..planning.safety import UnsafePlan, check_plan_safety
from ..resource_ids import CacheKind, ResourceId
from ..state.limits import SafetyGuard
from ..state.store import CacheLease, CacheRow, LeaseLost, StateStore
from ..workitem import WorkItem

log = logging.getLogger("redis_warden.engine")

# Azure Cache for Redis and Azure Managed Redis clusters (their databases are reconciled with the cluster).
EVALUATED_KINDS = frozenset({CacheKind.REDIS, CacheKind.REDIS_ENTERPRISE})
MAX_VISIBILITY_SECONDS = 7 * 86400 - 1  # a queue message's longest visibility delay
MAX_PASSES = 3  # re-read and re-plan when ARM's state moved under us (stale firewall list)
_REPLAN = object()
_NEEDS_LEASE = object()  # a pass without the lease found a write to make


class Outcome(StrEnum):
    COMPLIANT = "compliant"  # nothing to write (open findings may remain: audit-only, manual, exempt)
    REMEDIATED = "remediated"
    DRY_RUN = "dry-run"
    DEFERRED = "deferred"
    BLOCKED = "blocked"
    GONE = "gone"
    NOT_EVALUATED = "not-evaluated"
    IGNORED = "ignored"
    GAVE_UP = "gave-up"


class RecordBatch(Protocol):
    def record(self, kind: str, **fields: Any) -> None: ...


class AuditSink(Protocol):
    def record(self, kind: str, **fields: Any) -> Mapping[str, Any]: ...

    def together(self) -> AbstractContextManager[RecordBatch]: ...


class Deferrer(Protocol):
    """Where deferred work goes: the `warden-work` queue in the app, an in-memory retry list in the CLI."""

    def defer(self, item: WorkItem, delay_seconds: int) -> None: ...

    def give_up(self, item: WorkItem, reason: str) -> None: ...


@dataclass(frozen=True)
class DryRunPolicy:
    """Dry-run is the OR of every source; a request can only make it drier (design section 4)."""

    app_setting: bool
    baseline: bool

    def sources(self, item: WorkItem) -> tuple[str, ...]:
        found = []
        if self.app_setting:
            found.append("app-setting:WARDEN_DRY_RUN")
        if self.baseline:
            found.append("baseline:dryRun")
        if item.dry_run:
            found.append(f"request:{item.trigger.get('source', item.reason)}")
        return tuple(found)

    def requested(self, dry_run: bool, source: str) -> tuple[str, ...]:
        """The sources in force for a new request (scan or replay): what `sources` will say for its items."""
        found = [s for s, on in (("app-setting:WARDEN_DRY_RUN", self.app_setting),
                                 ("baseline:dryRun", self.baseline)) if on]
        if dry_run:
            found.append(f"request:{source}")
        return tuple(found)


@dataclass(frozen=True)
class DeferPolicy:
    base_seconds: int = 30
    max_seconds: int = 900
    budget_seconds: int = 3600

    def delay(self, attempt: int, retry_after: float | None) -> int:
        backoff = min(self.base_seconds * (2 ** min(attempt, 10)), self.max_seconds)
        if retry_after is not None:
            # ARM's Retry-After wins even beyond max_seconds: coming back earlier only earns another 429.
            backoff = max(backoff, int(retry_after + 0.999))
        return max(1, min(backoff, MAX_VISIBILITY_SECONDS))


@dataclass(frozen=True)
class ReconcileResult:
    outcome: Outcome
    cache: ResourceId
    findings: tuple[Finding, ...] = ()
    writes: int = 0
    detail: str = ""
    event_marked: bool = False  # the event was marked handled with the last-seen write (no separate write)


DUPLICATE = "duplicate delivery (event id already handled)"


@dataclass
class _Run:
    """Per-reconcile context passed to the audit helpers."""

    item: WorkItem
    snapshot: CacheSnapshot | None = None
    last_seen: Mapping[str, Any] | None = None
    pending: Mapping[str, Any] | None = None  # an accepted write an earlier reconcile left running
    event_id: str | None = None  # the event to mark handled with the last-seen write
    event_marked: bool = False
    writes: int = 0
    blocked: list[str] = field(default_factory=list)
    correlation_id: str = field(default_factory=lambda: str(uuid.uuid4()))  # on every ARM call we make
    # Set when the last pass ended after successful writes: the next pass only confirms them, so child
    # lists no applied step could have changed are carried over instead of listed again.
    confirming: bool = False
    touched: set[str] = field(default_factory=set)  # snapshot inputs our applied steps changed
    recorded: bool = False  # findings of this reconcile are on the audit trail (done once, first real pass)
    relisted: bool = False  # the last pass judged a listed body and asked for a GET (not counted in MAX_PASSES)
    key_expiry: SampleOutcome | None = None  # one data-plane sample per reconcile, reused by later passes
    row: CacheRow | None = None  # the cache's row as read without the lease (its etag guards the last-seen write)
    reuse: bool = False  # the next pass judges `snapshot` again: read unleased, and no write of ours since


class Engine:
    """Reconciles one cache per `WorkItem`; every way out leaves an audit record."""

    def __init__(
        self,
        *,
        baseline: Baseline,
        gateway: Gateway,
        state: StateStore,
        audit: AuditSink,
        deferrer: Deferrer,
        subscriptions: frozenset[str],
        dry_run: DryRunPolicy,
        record_upn: bool = False,
        defer_policy: DeferPolicy | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        safety: SafetyGuard | None = None,
        key_sampler: KeyExpiryReader | None = None,
    ) -> None:
        self.baseline = baseline
        # Data-plane key-expiry sampling (opted-in scopes, scans only); None = never sampled (rule: unknown).
        self.key_sampler = key_sampler
        self.gateway = gateway
        self.state = state
        self.audit = audit
        self.deferrer = deferrer
        self.subscriptions = subscriptions
        self.dry_run = dry_run
        self.record_upn = record_upn
        self.defer_policy = defer_policy or DeferPolicy()
        self.clock = clock
        # Breaker, flap guard and open intents (remediators.state.limits); never used on a dry-run path.
        self.safety = safety or SafetyGuard(state, audit, clock=clock)

    # ------------------------------------------------------------------------------------------ reconcile

    def reconcile(self, item: WorkItem, *, event_id: str | None = None) -> ReconcileResult:
        """`event_id`: the delivery this reconcile answers (intake only). It is checked against the cache's
        handled events (a redelivery: IGNORED with detail DUPLICATE), on the row read first and again under
        the lease before any write, and, unless the item is a dry run, marked handled in the same write as the
        last-seen snapshot."""
        cache = item.cache
        if cache.subscription_id not in self.subscriptions:
            self.audit.record("ignored-event", cache_id=cache.arm_id, trigger=_trigger(item),
                              detail="work item for a subscription not in WARDEN_SUBSCRIPTIONS")
            return ReconcileResult(Outcome.IGNORED, cache)
        if cache.kind not in EVALUATED_KINDS:
            self.audit.record("not-evaluated", cache_id=cache.arm_id, trigger=_trigger(item),
                              detail=f"{cache.kind} is not evaluated by this version")
            return ReconcileResult(Outcome.NOT_EVALUATED, cache)
        correlation = str(uuid.uuid4())
        with arm_correlation(correlation):
            row = self.state.cache_row(cache)  # one read: last seen, open intent, pending fix, handled events
            if event_id is not None and row.handled(event_id):
                return ReconcileResult(Outcome.IGNORED, cache, detail=DUPLICATE)
            run = _Run(item, last_seen=row.last_seen, pending=row.pending, correlation_id=correlation,
                       event_id=None if item.dry_run else event_id, row=row)
            if row.intent is None and row.pending is None:  # nothing of ours open: read and judge unleased
                result = self._pass(run, None, first=True)
                if isinstance(result, ReconcileResult):
                    return result  # anything but a write to make (`_NEEDS_LEASE`) ends here
        lease = self.state.try_lease(cache)
        if lease is None:
            return self._defer(run, "lease held by another worker", retry_after=None)
        with lease, arm_correlation(correlation):
            fresh = self.state.cache_row(cache)  # under the lease: what the writes are decided on
            if event_id is not None and fresh.handled(event_id):
                return ReconcileResult(Outcome.IGNORED, cache, detail=DUPLICATE)
            if fresh.etag != row.etag or run.snapshot is None:
                # The data-plane key sample does not depend on ARM writes: kept rather than taken again.
                run = _Run(item, last_seen=fresh.last_seen, pending=fresh.pending, correlation_id=correlation,
                           event_id=None if item.dry_run else event_id, recorded=run.recorded,
                           key_expiry=run.key_expiry)
            else:
                # No write of ours since the unleased read: its snapshot stands. A scan's listed body is not
                # judged again (it would only ask for the GET): the pass GETs it, child lists carried.
                run.reuse = not run.snapshot.from_listing
            self.safety.resume(cache, _trigger(item), fresh.intent)  # a write left open by a worker that died
            passes = 0
            while passes < MAX_PASSES:
                result = self._pass(run, lease, first=not run.recorded)
                if isinstance(result, ReconcileResult):
                    return result
                if not run.relisted:
                    passes += 1
                run.relisted = False
            return self._defer(run, "cache state kept changing while remediating", retry_after=None)

    def _pass(self, run: _Run, lease: CacheLease | None, *, first: bool) -> ReconcileResult | object | None:
        """One read-evaluate-plan-apply pass; None asks for another pass (state moved under us). Without the
        `lease` (None) a pass that would write returns `_NEEDS_LEASE` before recording anything (the caller
        takes the lease; `run.reuse` then judges the same snapshot instead of reading again). A pass on a
        scan's listed body (`CacheSnapshot.from_listing`) only confirms compliance: when it would write, or a
        write of ours is pending, the pass is dropped unrecorded and the next one GETs the cache under the
        lease (keeping the child lists this pass read)."""
        cache = run.item.cache
        needs, skipped = snapshot_inputs(self.baseline, cache, scan=is_scan(run.item))
        if run.reuse and run.snapshot is not None:
            snapshot, run.reuse = run.snapshot, False
        else:
            carried = _carried_over(run, needs)
            try:
                read = self.gateway.read(cache, needs - carried.keys(), scan_id=_scan_id(run.item))
                snapshot = replace(read, skipped_inputs=skipped, **carried)
            except ArmError as exc:
                return self._arm_failure(run, exc, step=None)
        if "key_expiry" in needs and self.key_sampler is not None:
            if run.key_expiry is None:
                run.key_expiry = self.key_sampler.sample(snapshot, self.baseline.parameters(cache, "key-expiry"))
            snapshot = replace(snapshot, **run.key_expiry.snapshot_fields())
        run.snapshot, run.confirming = snapshot, False
        if (snapshot.provisioning_state or "").lower() != "succeeded":
            return self._defer(run, f"cache is {snapshot.provisioning_state or 'not ready'}", retry_after=None)
        findings = self.baseline.evaluate(snapshot, now=self.clock())
        if lease is None and self._would_write(run, findings):
            run.confirming = True  # a listed body is then read again under the lease, its child lists carried
            return _NEEDS_LEASE
        if first:
            if snapshot.from_listing and (run.pending or self._would_write(run, findings)):
                run.confirming = run.relisted = True  # carry the child lists, GET the body
                return None
            self._record_findings(run, findings)
            self._settle_pending(run, findings)
            run.recorded = True
        try:
            the_plan = plan(self._fought(run, findings), snapshot)
            check_plan_safety(snapshot, the_plan)
        except UnsafePlan as exc:
            # Nothing was sent. A plan the check refuses was made from a view that no longer holds (state
            # moved between reads); it once escaped the reconcile unaudited. Audited, then read afresh later.
            self.audit.record("alert", cache_id=cache.arm_id, trigger=_trigger(run.item),
                              detail=f"the plan failed the safety check and was not applied: {exc}",
                              outcome={"status": "unsafe-plan"})
            return self._defer(run, "the plan failed the safety check; reading the cache again", retry_after=None)
        if first:
            for step in the_plan.steps:
                if isinstance(step, ManualAction):
                    self.audit.record("manual-action-required", cache_id=cache.arm_id, rule=step.rule,
                                      severity=_severity(findings, step.rule), trigger=_trigger(run.item),
                                      detail=step.reason)
        writes = the_plan.writes
        if not writes:
            self._save_seen(run, findings)
            if snapshot.retryable_read_errors and not run.blocked:
                # What could be judged is done; an input ARM did not answer this time (429, 5xx) is read
                # again later, or its rules would stay `unknown` (and a drift in them unfixed) until the
                # next event or scan. A refusal for good (403, 404) is not retried.
                names = ", ".join(sorted(snapshot.retryable_read_errors))
                return self._defer(run, f"could not read {names}; reading again", retry_after=None)
            outcome = Outcome.REMEDIATED if run.writes else Outcome.COMPLIANT
            if run.blocked:
                outcome = Outcome.BLOCKED
            return ReconcileResult(outcome, cache, findings, run.writes, event_marked=run.event_marked)
        sources = self.dry_run.sources(run.item)
        if sources:
            for step in writes:
                for part in _per_rule(step, findings):
                    self.audit.record("skipped-dry-run", cache_id=cache.arm_id, trigger=_trigger(run.item),
                                      dry_run_source=", ".join(sources), detail=_describe(step), **part)
            self._save_seen(run, findings)
            return ReconcileResult(Outcome.DRY_RUN, cache, findings, event_marked=run.event_marked)
        if lease is None:
            return _NEEDS_LEASE  # a write `_would_write` did not foresee: decided again under the lease
        for step in writes:
            if _step_rules(step) in run.blocked:
                continue
            held = self.safety.take_write_slot(cache, _trigger(run.item))  # the blast-radius breaker
            if held is not None:
                return self._defer(run, held, retry_after=None)
            stop = self._apply(run, step, findings, lease)
            if stop is _REPLAN:
                return None
            if isinstance(stop, ReconcileResult):
                return stop
        if run.blocked:
            self._save_seen(run, findings)
            return ReconcileResult(Outcome.BLOCKED, cache, findings, run.writes, event_marked=run.event_marked)
        # Writes were made: another pass re-reads, so the result reflects ARM's state rather than our intent
        # and fixes ARM would not take in one request (split PATCHes) are applied in order.
        run.confirming = True
        return None

    def _apply(
        self, run: _Run, step: Step, findings: Sequence[Finding], lease: CacheLease
    ) -> ReconcileResult | object | None:
        """None: go on with the next step; `_REPLAN`: re-read and re-plan; a result: stop here."""
        cache = run.item.cache
        rule = _step_rules(step)
        parts = _per_rule(step, findings)
        common = {"cache_id": cache.arm_id, "trigger": _trigger(run.item), "arm_correlation_id": run.correlation_id,
                  "detail": _describe(step)}

        def record(kind: str, **fields: Any) -> None:
            # One record per rule even when one ARM call fixes several, so each finding opens and closes alone.
            for part in parts:
                self.audit.record(kind, **common, **part, **fields)

        try:
            lease.check()  # right before the write: still ours, renewed for a full period
        except LeaseLost as exc:
            return self._defer(run, f"per-cache lease lost before a write, nothing written: {exc}", retry_after=None)
        self.safety.open_intent(cache, rules=[p["rule"] for p in parts], step=_describe(step),
                                correlation_id=run.correlation_id)
        record("remediation-started")
        try:
            result = self.gateway.apply(cache, step)
        except ArmError as exc:
            record("remediation-failed", request_id=exc.request_id, outcome=_err(exc))
            self.safety.close_intent(cache)
            if exc.kind in ("stale", "unsafe"):
                return _REPLAN  # MAX_PASSES bounds the re-reads
            if exc.kind in ("blocked", "invalid"):
                for part in parts:
                    self.audit.record("blocked", **{**common, "detail": f"ARM refused {_describe(step)}; not retried"},
                                      **part, outcome=_err(exc), request_id=exc.request_id)
                run.blocked.append(rule)
                return None
            return self._arm_failure(run, exc, step=step)
        run.writes += 1
        run.touched |= _inputs_changed_by(step)
        self.safety.count_fix(cache, [p["rule"] for p in parts])
        if not result.done:
            # Accepted, not failed and not known to be done: still running at the deadline, or its status
            # poll went unanswered. A later reconcile decides the outcome (_settle_pending).
            self.state.open_pending(cache, {"rules": [p["rule"] for p in parts], "request_id": result.request_id,
                                            "arm_correlation_id": run.correlation_id, "step": _describe(step),
                                            "status_url": result.status_url})
            record("remediation-pending", request_id=result.request_id,
                   outcome={"status": "accepted", "detail": result.detail})
            self.safety.close_intent(cache)
            return self._defer(run, f"ARM accepted the change; its outcome is read later "
                                    f"(long-running operation {result.detail})", retry_after=None)
        record("remediated", request_id=result.request_id, outcome={"status": "succeeded"})
        self.safety.close_intent(cache)
        lease.renew()
        return None

    def _would_write(self, run: _Run, findings: Sequence[Finding]) -> bool:
        """Whether a plan from these findings may write: a drift to remediate with a fix the planner can
        turn into writes (not a manual one), outside dry-run."""
        return not self.dry_run.sources(run.item) and any(
            f.status is Status.NON_COMPLIANT and f.effect is Effect.REMEDIATE and f.remediation is not None
            and not isinstance(f.remediation, ManualFix) for f in findings)

    def _settle_pending(self, run: _Run, findings: Sequence[Finding]) -> None:
        """A write an earlier reconcile left pending: now that the cache reads Succeeded, its outcome is what
        ARM's status URL says of the operation (Succeeded: `remediated`, even if someone has since changed the
        value back; Failed/Canceled: `remediation-failed`), else what the cache shows: the rule holds,
        `remediated`; it does not, `remediation-failed` (the plan may fix it again in this pass)."""
        cache = run.item.cache
        pending = run.pending
        if not pending:
            return
        by_rule = {f.rule: f for f in findings}
        operation = self.gateway.operation_status(cache, pending.get("status_url"))
        for rule in pending.get("rules") or ():
            finding = by_rule.get(rule)
            common = {"cache_id": cache.arm_id, "rule": rule, "trigger": _trigger(run.item),
                      "request_id": pending.get("request_id"), "arm_correlation_id": pending.get("arm_correlation_id")}
            severity = finding.severity.value if finding is not None else None
            if operation.status == "succeeded":
                self.audit.record("remediated", **common, severity=severity,
                                  detail=f"{pending.get('step')}: outcome read from the operation's status URL",
                                  outcome={"status": "succeeded", "confirmed_by": "operation status"})
                continue
            if operation.status is not None:
                self.audit.record("remediation-failed", **common,
                                  detail=f"{pending.get('step')}: outcome read from the operation's status URL",
                                  outcome={"status": "not-applied", "operation": operation.status})
                continue
            common["detail"] = f"{pending.get('step')}: outcome read from the cache ({operation.detail})"
            if finding is not None and finding.compliant:
                self.audit.record("remediated", **common, severity=finding.severity.value,
                                  outcome={"status": "succeeded", "confirmed_by": "cache read"})
            else:
                status = finding.status.value if finding is not None else "not evaluated"
                self.audit.record("remediation-failed", **common,
                                  outcome={"status": "not-applied", "finding": status})
        self.state.clear_pending(cache)
        run.pending = None

    def _fought(self, run: _Run, findings: Sequence[Finding]) -> list[Finding]:
        """The findings to plan from: outside dry-run, rules flapping on this cache are no longer fought."""
        if self.dry_run.sources(run.item):
            return list(findings)
        return self.safety.guard(run.item.cache, findings, _trigger(run.item), run.blocked)

    # ------------------------------------------------------------------------------------------ failures

    def _arm_failure(self, run: _Run, exc: ArmError, *, step: Step | None) -> ReconcileResult:
        cache = run.item.cache
        if exc.kind == "gone":
            self.audit.record("gone", cache_id=cache.arm_id, trigger=_trigger(run.item), request_id=exc.request_id,
                              outcome=_err(exc), detail="cache not found (deleted)")
            return ReconcileResult(Outcome.GONE, cache, writes=run.writes)
        if exc.kind in ("blocked", "invalid"):
            self.audit.record("blocked", cache_id=cache.arm_id, trigger=_trigger(run.item),
                              request_id=exc.request_id, outcome=_err(exc), detail="ARM refused the read; not retried")
            return ReconcileResult(Outcome.BLOCKED, cache, writes=run.writes)
        return self._defer(run, f"ARM {exc.kind}: {exc.code or exc.status}", retry_after=exc.retry_after,
                           error=exc)

    def _defer(self, run: _Run, why: str, *, retry_after: float | None,
               error: ArmError | None = None) -> ReconcileResult:
        item, cache = run.item, run.item.cache
        now = self.clock()
        elapsed = (now - item.first_seen).total_seconds()
        if elapsed > self.defer_policy.budget_seconds:
            reason = f"deferral budget of {self.defer_policy.budget_seconds}s exhausted: {why}"
            self.audit.record("alert", cache_id=cache.arm_id, trigger=_trigger(item), detail=reason,
                              outcome=_err(error) if error else None)
            self.deferrer.give_up(item, reason)
            return ReconcileResult(Outcome.GAVE_UP, cache, writes=run.writes, detail=reason)
        delay = self.defer_policy.delay(item.attempt, retry_after)
        event_id = item.trigger.get("event_id")
        if event_id:
            # The queued follow-up is only a hint (engine.authority): what the event said is kept here.
            self.state.note_event_trigger(event_id, cache, item.trigger, item.first_seen)
        # Enqueue first: if storage refuses, the exception makes the host retry this message, and the
        # trail never claims a deferral that was not saved.
        self.deferrer.defer(item.deferred(now=now, delay_seconds=delay), delay)
        self.audit.record("deferred", cache_id=cache.arm_id, trigger=_trigger(item), detail=why,
                          outcome=_err(error) if error else None, retry_in_seconds=delay, attempt=item.attempt + 1)
        return ReconcileResult(Outcome.DEFERRED, cache, writes=run.writes, detail=why)

    # ------------------------------------------------------------------------------------------ audit helpers

    def _record_findings(self, run: _Run, findings: Sequence[Finding]) -> None:
        """One evaluation's records, stored together in one append (pure code between them: nothing is
        acted on before they are stored, and the event is marked handled only after)."""
        with self.audit.together() as batch:
            self._gather_findings(batch, run, findings)

    def _gather_findings(self, batch: RecordBatch, run: _Run, findings: Sequence[Finding]) -> None:
        cache = run.item.cache
        for input_name, error in sorted((run.snapshot.read_errors if run.snapshot else {}).items()):
            # Partial failure: this input stays unread, the rules that need it are `unknown`, the rest go on.
            batch.record("alert", cache_id=cache.arm_id, trigger=_trigger(run.item),
                              detail=f"could not read {input_name}: the rules that need it are unknown",
                              outcome={"status": "read-failed", "input": input_name, "error": error})
        for f in findings:
            if f.status is Status.EXEMPT and f.exemption is not None:
                ex = f.exemption
                batch.record("skipped-exempt", cache_id=cache.arm_id, rule=f.rule, severity=str(f.severity),
                                  before=f.before, trigger=_trigger(run.item), detail=f.reason,
                                  exemption={"id": ex.id, "approver": ex.approver,
                                             "expires": ex.expires.isoformat(),
                                             "justification": ex.justification})
            elif f.status in (Status.NON_COMPLIANT, Status.UNKNOWN):
                batch.record("detected", cache_id=cache.arm_id, rule=f.rule, severity=str(f.severity),
                                  before=f.before, after=f.after, trigger=_trigger(run.item),
                                  drift_actor=self._drift_actor(run, f), finding_status=str(f.status),
                                  effect=str(f.effect), detail=f.reason,
                                  sku=run.snapshot.sku_name if run.snapshot else None)  # report: retirement
        # One summary per evaluation, so a clean cache is on record as assessed (the pack's inventory) and a
        # finding fixed by someone else closes; a cache with only `deferred` records stays "not assessed".
        snap = run.snapshot
        batch.record("evaluated", cache_id=cache.arm_id, trigger=_trigger(run.item),
                          statuses={f.rule: str(f.status) for f in findings},
                          location=snap.location if snap else None, sku=snap.sku_name if snap else None)

    def _drift_actor(self, run: _Run, finding: Finding) -> Mapping[str, Any] | str:
        """The event's caller, only when its write plausibly produced this drift: it touched the offending
        resource, and the last-seen snapshot had this rule compliant. Otherwise `unknown`."""
        trig = run.item.trigger
        unknown = "unknown"  # the trail adds the correlation id, which finds the write in the Activity Log
        subject = (trig.get("subject") or "").lower()
        if not subject or not (trig.get("actor_oid") or trig.get("actor_appid")):
            return unknown
        actor = {k: v for k, v in (("oid", trig.get("actor_oid")), ("appid", trig.get("actor_appid"))) if v}
        cache_id = run.item.cache.key
        own_database = subject.startswith(cache_id + "/databases/") and "/providers/" not in subject
        if subject == cache_id or own_database:  # an Azure Managed Redis database is judged with its cluster
            seen = (run.last_seen or {}).get(finding.rule)
            if seen is not None and seen.get("compliant") and seen.get("value") != _jsonable(finding.before):
                return actor
            return unknown
        rem = finding.remediation
        if isinstance(rem, FirewallFix) and subject.startswith(cache_id + "/firewallrules/"):
            name = subject.rsplit("/", 1)[-1]
            if name in {r.lower() for r in rem.remove}:
                return actor
        if finding.rule in ("diagnostic-logs", "amr-diagnostic-logs") \
                and "/providers/microsoft.insights/diagnosticsettings/" in subject:
            return actor
        return unknown

    def _save_seen(self, run: _Run, findings: Sequence[Finding]) -> None:
        """The last-seen snapshot, with the reconcile's event marked handled in the same write."""
        self.state.save_seen(
            run.item.cache, {f.rule: {"compliant": f.compliant, "value": _jsonable(f.before)} for f in findings},
            handled_event=run.event_id, read=run.row,
        )
        run.event_marked = run.event_id is not None


# ---------------------------------------------------------------------------------------------- helpers


def _scan_id(item: WorkItem) -> str | None:
    """The scan a work item belongs to, for lists its caches share (`arm.shared`); None for an event."""
    value = item.trigger.get("scan_id") if is_scan(item) else None
    return value if isinstance(value, str) and 0 < len(value) <= 64 else None


def _trigger(item: WorkItem) -> dict[str, Any]:
    t = dict(item.trigger)
    out: dict[str, Any] = {"reason": item.reason, "attempt": item.attempt}
    if "scan_id" in t:
        out["scan_id"] = t["scan_id"]
    for key in ("event_id", "type", "correlation_id", "subject", "source"):
        if key in t:
            out[key] = t[key]
    actor = {k: v for k, v in (("oid", t.get("actor_oid")), ("appid", t.get("actor_appid"))) if v}
    if actor:
        out["actor"] = actor
    return out


# Snapshot inputs a confirming pass may carry over (input -> the snapshot fields holding it), and the steps
# that change each one (`_inputs_changed_by`). No step of ours writes linked servers, an NSG, scheduled
# query rules or access policy assignments; Azure Policy evaluates a changed resource asynchronously (an
# evaluation trigger, learn.microsoft.com/azure/governance/policy/how-to/get-compliance-data), so a re-read
# a second after our write answers the states from before it. The cache body itself (and with it private endpoint
# connections and their DNS zone groups) and Azure Managed Redis databases are read again on every pass.
_CARRYABLE: dict[str, tuple[str, ...]] = {
    "firewall_rules": ("firewall_rules",),
    "diagnostic_settings": ("diagnostic_settings",),
    "diagnostic_categories": ("diagnostic_categories",),
    "linked_servers": ("linked_servers",),
    "metric_alerts": ("metric_alerts",),
    "network_security_group": ("network_security_group", "network_security_group_error"),
    "log_alert_rules": ("log_alert_rules",),
    "policy_states": ("policy_states",),
    "access_policy_assignments": ("access_policy_assignments",),
}


def _inputs_changed_by(step: Step) -> set[str]:
    if isinstance(step, PutFirewallRule | DeleteFirewallRule):
        return {"firewall_rules"}
    if isinstance(step, PutDiagnosticSetting):
        return {"diagnostic_settings"}
    if isinstance(step, PutMetricAlert):
        return {"metric_alerts"}
    return set()


def _carried_over(run: _Run, needs: frozenset[str]) -> dict[str, Any]:
    """Snapshot fields a confirming pass reuses from the previous pass: inputs it read that none of our
    applied steps changed. A pass after a stale or refused write re-reads everything."""
    previous = run.snapshot
    if not run.confirming or previous is None:
        return {}
    out = {}
    for need, attrs in _CARRYABLE.items():
        if need not in needs or need in run.touched:
            continue
        values = {attr: getattr(previous, attr) for attr in attrs}
        if any(v is not None for v in values.values()):
            out.update(values)
    return out


def _per_rule(step: Step, findings: Sequence[Finding]) -> list[dict[str, Any]]:
    """rule/severity/before/after for each rule a step serves: a merged PATCH reports each rule's own
    fields; any other step serves exactly one rule."""
    if isinstance(step, PatchCache) and len(step.rules) > 1:
        return [{"rule": f.rule, "severity": str(f.severity), "before": f.before, "after": f.after}
                for f in findings if f.rule in step.rules]
    rule = _step_rules(step)
    before, after = _step_change(step)
    return [{"rule": rule, "severity": _severity(findings, rule), "before": before, "after": after}]


def _severity(findings: Sequence[Finding], rule: str) -> str | None:
    for f in findings:
        if f.rule == rule or f.rule in rule.split(","):
            return str(f.severity)
    return None


def _step_rules(step: Step) -> str:
    if isinstance(step, PatchCache):
        return ",".join(step.rules)
    return step.rule


def _step_change(step: Step) -> tuple[Any, Any]:
    if isinstance(step, PatchCache):
        return dict(step.before), dict(step.after)
    if isinstance(step, PutFirewallRule):
        return None, {"firewallRule": step.name, "startIP": step.start_ip, "endIP": step.end_ip}
    if isinstance(step, DeleteFirewallRule):
        return {"firewallRule": step.name, "startIP": step.start_ip, "endIP": step.end_ip}, None
    if isinstance(step, PutDiagnosticSetting):
        return None, {"diagnosticSetting": step.name, "workspaceId": step.workspace_id,
                      "categories": list(step.categories), "categoryGroups": list(step.category_groups)}
    if isinstance(step, PutMetricAlert):
        return None, {"metricAlert": step.name, "metric": step.metric, "operator": step.operator,
                      "threshold": step.threshold, "actionGroupId": step.action_group_id}
    return None, None


def _describe(step: Step) -> str:
    if isinstance(step, PatchDatabase):
        return f"PATCH database {step.database} properties {sorted(step.body.get('properties', {}))}"
    if isinstance(step, PatchCache):
        return f"PATCH cache properties {sorted(step.body.get('properties', {}))}"
    if isinstance(step, PutFirewallRule):
        extra = f" replacing {step.replaces}" if step.replaces else ""
        return f"PUT firewall rule {step.name} {step.start_ip}-{step.end_ip}{extra}"
    if isinstance(step, DeleteFirewallRule):
        return f"DELETE firewall rule {step.name} {step.start_ip}-{step.end_ip}"
    if isinstance(step, PutDiagnosticSetting):
        return f"PUT diagnostic setting {step.name} to the configured workspace"
    if isinstance(step, PutMetricAlert):
        return f"PUT metric alert {step.name} ({step.metric} {step.operator} {step.threshold:g}) to the action group"
    return step.reason


def _err(exc: ArmError | None) -> dict[str, Any] | None:
    if exc is None:
        return None
    return {"kind": exc.kind, "code": exc.code, "message": exc.message, "status": exc.status}


def _jsonable(value: Any) -> Any:
    if value is None or isinstance(value, str | int | float | bool):
        return value
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_jsonable(v) for v in value]
    return str(value)
