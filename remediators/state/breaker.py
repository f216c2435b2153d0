"""Loop protection, as pure decisions: the blast-radius breaker and the per-rule flap guard.

The state lives in the state table (`StateStore.swap_row`, optimistic concurrency on the row's etag, so
concurrent workers on Flex Consumption count every write exactly once); this module only says, given a
counter row and the time, what to do and what the row becomes. Keeping the arithmetic pure lets it be
tested exhaustively and keeps storage races out of the decision.

- Breaker (fleet-wide): every ARM write first takes a slot in a window of `window_seconds`. A write that
  would be the (N+1)-th in the window trips the breaker instead; once tripped, every write stops until an
  operator runs `python -m remediators breaker reset` (no automatic close: a runaway is a bug or an
  attack, and someone must look before writes resume).
- Flap guard (per cache and rule): each successful fix counts in a window starting at the first fix. When
  a rule would be fixed for the (K+1)-th time in its window (it drifted back more than K times), the
  warden stops fighting it until the window has passed, and raises one alert.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

BREAKER_PARTITION, BREAKER_ROW = "breaker", "fleet"
FLAP_PARTITION = "flap"


class Decision(StrEnum):
    ALLOW = "allow"
    TRIP = "trip"  # this caller tripped it: write the alert (exactly one caller gets this)
    OPEN = "open"  # already tripped / guarded: do not write


@dataclass(frozen=True)
class Limits:
    max_count: int
    window_seconds: int

    @property
    def window(self) -> timedelta:
        return timedelta(seconds=self.window_seconds)


@dataclass(frozen=True)
class SafetyLimits:
    """Both limits, from WARDEN_BREAKER_* and WARDEN_FLAP_* (see `remediators.settings`)."""

    breaker: Limits = Limits(100, 600)
    flap: Limits = Limits(3, 3600)

    @classmethod
    def from_settings(cls, settings: Any) -> SafetyLimits:
        """From `remediators.settings.Settings` (validated there)."""
        return cls(Limits(settings.breaker_max_writes, settings.breaker_window_seconds),
                   Limits(settings.flap_max, settings.flap_window_seconds))


@dataclass(frozen=True)
class Counter:
    """One counter row: a fixed window with a count, and whether it tripped (breaker) or alerted (flap)."""

    window_start: datetime | None = None
    count: int = 0
    tripped: bool = False
    tripped_at: datetime | None = None
    reason: str = ""

    def in_window(self, limits: Limits, now: datetime) -> bool:
        return self.window_start is not None and now - self.window_start < limits.window

    def to_entity(self) -> dict[str, Any]:
        return {
            "WindowStart": self.window_start.isoformat() if self.window_start else "",
            "Count": self.count,
            "Tripped": self.tripped,
            "TrippedAt": self.tripped_at.isoformat() if self.tripped_at else "",
            "Reason": self.reason,
        }

    @classmethod
    def from_entity(cls, entity: Mapping[str, Any] | None) -> Counter:
        if not entity:
            return cls()
        return cls(
            window_start=_time(entity.get("WindowStart")),
            count=int(entity.get("Count") or 0),
            tripped=bool(entity.get("Tripped")),
            tripped_at=_time(entity.get("TrippedAt")),
            reason=str(entity.get("Reason") or ""),
        )


def _time(raw: Any) -> datetime | None:
    return datetime.fromisoformat(raw) if isinstance(raw, str) and raw else None


# ---------------------------------------------------------------------------------------------- breaker


def breaker_take(counter: Counter, limits: Limits, now: datetime) -> tuple[Decision, Counter]:
    """Before one ARM write: take a slot, trip, or refuse because it is open."""
    if counter.tripped:
        return Decision.OPEN, counter
    start, count = (counter.window_start, counter.count) if counter.in_window(limits, now) else (now, 0)
    if count >= limits.max_count:
        reason = f"more than {limits.max_count} writes across the fleet within {limits.window_seconds}s"
        return Decision.TRIP, Counter(start, count, tripped=True, tripped_at=now, reason=reason)
    return Decision.ALLOW, Counter(start, count + 1)


def breaker_reset(counter: Counter, now: datetime) -> tuple[Counter, Counter]:
    """(the state before, the state after) an operator's reset: closed, with a fresh window."""
    return counter, Counter(window_start=now, count=0)


# ---------------------------------------------------------------------------------------------- flapping


def flap_check(counter: Counter, limits: Limits, now: datetime) -> tuple[Decision, Counter]:
    """Before fixing a rule on a cache. TRIP once per window (alert then), OPEN after that."""
    if not counter.in_window(limits, now) or counter.count < limits.max_count:
        return Decision.ALLOW, counter
    if counter.tripped:
        return Decision.OPEN, counter
    reason = f"fixed {counter.count} times within {limits.window_seconds}s and drifted back again"
    return Decision.TRIP, replace(counter, tripped=True, tripped_at=now, reason=reason)


def flap_count(counter: Counter, limits: Limits, now: datetime) -> Counter:
    """After a successful fix: count it, in the current window or a new one."""
    if counter.in_window(limits, now):
        return replace(counter, count=counter.count + 1)
    return Counter(window_start=now, count=1)


def guard_ends(counter: Counter, limits: Limits) -> datetime | None:
    return counter.window_start + limits.window if counter.window_start else None
