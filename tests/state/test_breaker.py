"""The pure breaker / flap-guard arithmetic (remediators.state.breaker), checked against a simple model over
random schedules of writes and clock moves."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from remediators.state.breaker import (
    Counter,
    Decision,
    Limits,
    breaker_reset,
    breaker_take,
    flap_check,
    flap_count,
)

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


@settings(max_examples=200, deadline=None)
@given(limit=st.integers(1, 6), window=st.integers(1, 100), gaps=st.lists(st.integers(0, 40), max_size=40))
def test_the_breaker_allows_at_most_n_writes_per_window_then_stays_open(limit: int, window: int,
                                                                      gaps: list[int]) -> None:
    limits = Limits(limit, window)
    counter, now = Counter(), T0
    allowed_in_window: list[datetime] = []
    trips = 0
    for gap in gaps:
        now += timedelta(seconds=gap)
        before = counter
        decision, counter = breaker_take(counter, limits, now)
        if before.tripped:
            assert decision is Decision.OPEN and counter == before  # only an operator closes it
            continue
        if decision is Decision.ALLOW:
            allowed_in_window = [t for t in allowed_in_window if counter.window_start and t >= counter.window_start]
            allowed_in_window.append(now)
            assert len(allowed_in_window) <= limit
        else:
            assert decision is Decision.TRIP and counter.tripped
            trips += 1
    assert trips <= 1


def test_reset_closes_the_breaker_with_a_fresh_window() -> None:
    limits = Limits(1, 60)
    _, counter = breaker_take(Counter(), limits, T0)
    decision, counter = breaker_take(counter, limits, T0)
    assert decision is Decision.TRIP
    before, after = breaker_reset(counter, T0 + timedelta(days=3))
    assert before.tripped and not after.tripped and after.count == 0
    assert breaker_take(after, limits, T0 + timedelta(days=3))[0] is Decision.ALLOW


@settings(max_examples=200, deadline=None)
@given(k=st.integers(1, 5), window=st.integers(10, 1000), gaps=st.lists(st.integers(0, 300), max_size=30))
def test_the_flap_guard_allows_k_fixes_per_window_and_alerts_once_per_window(k: int, window: int,
                                                                            gaps: list[int]) -> None:
    limits = Limits(k, window)
    counter, now = Counter(), T0
    trips_by_window: dict[datetime | None, int] = {}
    fixes_by_window: dict[datetime | None, int] = {}
    for gap in gaps:
        now += timedelta(seconds=gap)
        decision, counter = flap_check(counter, limits, now)
        if decision is Decision.ALLOW:
            counter = flap_count(counter, limits, now)
            fixes_by_window[counter.window_start] = fixes_by_window.get(counter.window_start, 0) + 1
        else:
            trips_by_window[counter.window_start] = trips_by_window.get(counter.window_start, 0) + (
                decision is Decision.TRIP)
            assert now - counter.window_start < limits.window  # guarded only inside its window
    assert all(n <= k for n in fixes_by_window.values())
    assert all(n == 1 for n in trips_by_window.values())


def test_counters_survive_the_table_round_trip() -> None:
    counter = Counter(T0, 7, tripped=True, tripped_at=T0 + timedelta(seconds=5), reason="why")
    assert Counter.from_entity(counter.to_entity()) == counter
    assert Counter.from_entity(None) == Counter()
