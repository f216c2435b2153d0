"""The engine's safety hooks with their state and audit I/O: breaker, flap guard and open intents.

The decisions are pure (`remediators.state.breaker`); this module reads and writes the state-table rows they
work on (with etag concurrency through `StateStore.swap_row`) and writes the audit records they call for,
so `engine.py` only calls one small method at each point of a reconcile:

- `resume` at the start (under the lease): an open intent left by a writer that died -> `resumed`;
- `guard` before planning: rules flapping on this cache are no longer fought (`blocked`, one `alert`);
- `take_write_slot` before each ARM write: the blast-radius breaker (one `alert` when it trips);
- `open_intent` / `close_intent` around each write; `count_fix` after a successful one.

None of these is called on a dry-run path, so dry-run and `audit` effects write nothing to ARM or state.
"""

from __future__ import annotations

import hashlib
import logging
import os
import socket
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any, Protocol

from ..models import Effect, Finding, Status
from ..resource_ids import ResourceId
from .breaker import (
    BREAKER_PARTITION,
    BREAKER_ROW,
    FLAP_PARTITION,
    Counter,
    Decision,
    SafetyLimits,
    breaker_reset,
    breaker_take,
    flap_check,
    flap_count,
    guard_ends,
)

log = logging.getLogger("redis_warden.safety")
_WRITER = f"{socket.gethostname()}:{os.getpid()}"  # which process opened an intent, for the `resumed` record


class _Audit(Protocol):
    def record(self, kind: str, **fields: Any) -> Mapping[str, Any]: ...


class _State(Protocol):
    def read_row(self, partition: str, row: str) -> Mapping[str, Any] | None: ...

    def swap_row(self, partition: str, row: str, change: Callable[..., Any]) -> Any: ...

    def open_intent(self, cache: ResourceId, intent: Mapping[str, Any]) -> None: ...

    def clear_intent(self, cache: ResourceId) -> None: ...


def _flap_row(cache: ResourceId, rule: str) -> str:
    return hashlib.sha256(f"{cache.key}|{rule}".encode()).hexdigest()


def plain_counter(counter: Counter) -> dict[str, Any]:
    return {
        "window_start": counter.window_start.isoformat() if counter.window_start else None,
        "count": counter.count,
        "tripped": counter.tripped,
        "tripped_at": counter.tripped_at.isoformat() if counter.tripped_at else None,
        "reason": counter.reason or None,
    }


@dataclass
class SafetyGuard:
    state: _State
    audit: _Audit
    limits: SafetyLimits = SafetyLimits()
    clock: Callable[[], datetime] = lambda: datetime.now(UTC)

    # ------------------------------------------------------------------------------------------ open intents

    def resume(self, cache: ResourceId, trigger: Mapping[str, Any],
               intent: Mapping[str, Any] | None) -> Mapping[str, Any] | None:
        """Under the cache's lease, with the open intent its row held (read once with the rest of the row):
        a write left open by a dead writer is put on record, then forgotten; the reconcile goes on from
        fresh ARM state, which says whether that write took effect."""
        if intent is None:
            return None
        log.warning("cache %s: resuming after an interrupted write %s", cache.arm_id, intent)
        self.audit.record("resumed", cache_id=cache.arm_id, trigger=trigger, intent=dict(intent),
                          detail="a previous reconcile stopped mid-write (its worker died); re-reading ARM")
        self.state.clear_intent(cache)
        return intent

    def open_intent(self, cache: ResourceId, *, rules: Sequence[str], step: str, correlation_id: str) -> None:
        self.state.open_intent(cache, {"rules": list(rules), "step": step, "arm_correlation_id": correlation_id,
                                       "started": self.clock().isoformat(), "writer": _WRITER})

    def close_intent(self, cache: ResourceId) -> None:
        self.state.clear_intent(cache)

    # ------------------------------------------------------------------------------------------ flapping

    def guard(self, cache: ResourceId, findings: Sequence[Finding], trigger: Mapping[str, Any],
              blocked: list[str]) -> list[Finding]:
        """The findings to plan from: a rule whose flap guard is open becomes audit-only for this
        reconcile. Each guarded rule is added to `blocked` and audited once per reconcile."""
        out: list[Finding] = []
        for f in findings:
            if f.status is not Status.NON_COMPLIANT or f.effect is not Effect.REMEDIATE:
                out.append(f)
                continue
            if f.rule in blocked:
                out.append(replace(f, effect=Effect.AUDIT))
                continue
            now = self.clock()
            decision, counter = self.state.swap_row(FLAP_PARTITION, _flap_row(cache, f.rule),
                                                    lambda row, now=now: self._flap_change(row, now))
            if decision is Decision.ALLOW:
                out.append(f)
                continue
            until = guard_ends(counter, self.limits.flap)
            if decision is Decision.TRIP:
                self.audit.record("alert", cache_id=cache.arm_id, rule=f.rule, trigger=trigger,
                                  detail=f"flapping: rule {f.rule} {counter.reason}; no longer fought until "
                                         f"{until.isoformat() if until else 'the window ends'}",
                                  flap=plain_counter(counter))
            self.audit.record("blocked", cache_id=cache.arm_id, rule=f.rule, severity=str(f.severity),
                              trigger=trigger, outcome={"kind": "flapping", "code": "FlapGuardOpen"},
                              detail=f"not remediated: the rule keeps drifting back on this cache; guard open "
                                     f"until {until.isoformat() if until else 'the window ends'}")
            blocked.append(f.rule)
            out.append(replace(f, effect=Effect.AUDIT))
        return out

    def _flap_change(self, row: Mapping[str, Any] | None, now: datetime) -> tuple[Any, Mapping[str, Any] | None]:
        before = Counter.from_entity(row)
        decision, after = flap_check(before, self.limits.flap, now)
        return (decision, after), (after.to_entity() if after != before else None)

    def count_fix(self, cache: ResourceId, rules: Sequence[str]) -> None:
        """After a successful write: one more fix of each rule in the current flap window."""
        for rule in rules:
            now = self.clock()

            def change(row: Mapping[str, Any] | None, now: datetime = now) -> tuple[None, Mapping[str, Any]]:
                return None, flap_count(Counter.from_entity(row), self.limits.flap, now).to_entity()

            self.state.swap_row(FLAP_PARTITION, _flap_row(cache, rule), change)

    # ------------------------------------------------------------------------------------------ breaker

    def take_write_slot(self, cache: ResourceId, trigger: Mapping[str, Any]) -> str | None:
        """None when this write may go ahead; otherwise why not (the breaker is open)."""
        now = self.clock()

        def change(row: Mapping[str, Any] | None) -> tuple[tuple[Decision, Counter], Mapping[str, Any] | None]:
            before = Counter.from_entity(row)
            decision, after = breaker_take(before, self.limits.breaker, now)
            return (decision, after), (after.to_entity() if after != before else None)

        decision, counter = self.state.swap_row(BREAKER_PARTITION, BREAKER_ROW, change)
        if decision is Decision.ALLOW:
            return None
        if decision is Decision.TRIP:
            log.error("blast-radius breaker tripped: %s", counter.reason)
            self.audit.record("alert", cache_id=cache.arm_id, trigger=trigger, breaker=plain_counter(counter),
                              detail=f"blast-radius breaker tripped: {counter.reason}; all ARM writes stop until "
                                     "an operator runs `python -m remediators breaker reset`")
        return f"breaker-open: {counter.reason or 'tripped'}; writes resume after `breaker reset`"

    def breaker_status(self) -> Counter:
        return breaker_status(self.state)

    def breaker_reset(self, *, operator: str, reason: str) -> tuple[Counter, Counter]:
        """Close the breaker (operator action) and audit it with the state before and after."""
        now = self.clock()

        def change(row: Mapping[str, Any] | None) -> tuple[tuple[Counter, Counter], Mapping[str, Any]]:
            before, after = breaker_reset(Counter.from_entity(row), now)
            return (before, after), after.to_entity()

        before, after = self.state.swap_row(BREAKER_PARTITION, BREAKER_ROW, change)
        self.audit.record("breaker-reset", operator=operator, reason=reason,
                          breaker={"before": plain_counter(before), "after": plain_counter(after)},
                          detail=f"blast-radius breaker reset by {operator}: {reason}")
        return before, after


def breaker_status(state: _State) -> Counter:
    """The breaker row as stored (a fresh deploy has none: closed, empty window)."""
    return Counter.from_entity(state.read_row(BREAKER_PARTITION, BREAKER_ROW))
