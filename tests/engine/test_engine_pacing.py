"""Issue 13, pacing as the audit trail shows it: a hostile Retry-After becomes a clear, capped deferral of
the cache (never hours of sleep in a worker), and a 429 on one cache defers the next cache of the same
subscription without a request. Real SDK, Azurite and emulator (tests/reliability/rig.py)."""

from __future__ import annotations

from pathlib import Path

from emulator.testing import sample_cache
from remediators.arm.pacing import MAX_RETRY_AFTER_SECONDS
from remediators.engine.reconcile import Outcome
from tests.reliability.rig import OFFICE, engine_rig


def _cache(name: str, **knobs) -> dict:
    return sample_cache(name, firewall_rules=[OFFICE], knobs=knobs or None)


def test_a_retry_after_of_a_year_is_a_deferral_capped_and_said_so(tmp_path: Path) -> None:
    throttle = {"preset": "throttled", "method": "GET", "resource": "cache", "times": 1}
    hostile = {"rateLimitHeaders": {"Retry-After": "31536000"}}
    fleet = [_cache("year-cache", faults=[throttle], hostile=hostile), _cache("next-cache")]
    with engine_rig(tmp_path, fleet) as rig:
        assert rig.reconcile("year-cache").outcome is Outcome.DEFERRED
        deferred = rig.records("deferred", "year-cache")[-1]
        assert deferred["retry_in_seconds"] == int(MAX_RETRY_AFTER_SECONDS)
        assert "'31536000' is above the 3600 s cap" in deferred["outcome"]["message"]
        assert deferred["outcome"]["kind"] == "throttled"
        # The same subscription is paused: the next cache is deferred for the pause, and nothing is sent.
        assert rig.reconcile("next-cache").outcome is Outcome.DEFERRED
        paused = rig.records("deferred", "next-cache")[-1]
        assert paused["outcome"]["code"] == "SubscriptionPaused"
        assert paused["retry_in_seconds"] >= int(MAX_RETRY_AFTER_SECONDS) - 1
        assert rig.warden_calls("GET", "next-cache") == []


def test_an_unreadable_retry_after_is_refused_and_the_cache_deferred_by_its_backoff(tmp_path: Path) -> None:
    throttle = {"preset": "throttled", "method": "GET", "resource": "cache", "times": 1}
    fleet = [_cache("inf-cache", faults=[throttle], hostile={"rateLimitHeaders": {"Retry-After": "inf"}})]
    with engine_rig(tmp_path, fleet) as rig:
        assert rig.reconcile("inf-cache").outcome is Outcome.DEFERRED  # neither hangs nor crashes
        deferred = rig.records("deferred", "inf-cache")[-1]
        assert "'inf' is not a number of seconds or an HTTP-date: refused" in deferred["outcome"]["message"]
        assert deferred["retry_in_seconds"] == 1  # WARDEN_DEFER_BASE_SECONDS, the rig's backoff
        assert [c["status"] for c in rig.warden_calls("GET", "inf-cache")][:1] == [429]
