"""Issue 13: a CLI scan's retry window counts per cache from that cache's own first deferral. It used to
count from the start of the scan, so a cache first deferred late in a long scan was never retried.

Real engine, SDK, emulator and Azurite (tests/reliability/rig.py); only the scan loop's clock is ours: each
finished cache moves it on 50 s (a long scan), and the loop's waits move it instead of sleeping. The late cache
reads `Updating` (emulator knob `busyForGets`), so it is deferred with the rig's backoff (1 s, doubling)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from emulator.testing import sample_cache
from remediators.entry.scan import MemoryDeferrer, run_scan
from remediators.resource_ids import parse_scope
from tests.reliability.rig import OFFICE, SUB, engine_rig


@dataclass
class LoopClock:
    now: float = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def _fleet(busy_for_gets: int) -> list[dict]:
    """z-late shows `Updating` for its first reads (listing included), so the scan defers it."""
    return [sample_cache(f"a-{i}", firewall_rules=[OFFICE]) for i in range(3)] + \
        [sample_cache("z-late", firewall_rules=[OFFICE], knobs={"busyForGets": busy_for_gets})]


def _scan(rig, retry_for: float):
    clock = LoopClock()
    deferrer = MemoryDeferrer(clock=clock)
    rig.rt.engine.deferrer = deferrer

    def long_scan(done: int, total: int, result) -> None:
        clock.now += 50.0

    report = run_scan(rig.rt, deferrer, parse_scope(f"/subscriptions/{SUB}"), dry_run=True,
                      retry_for_seconds=retry_for, progress=long_scan, sleep=clock.sleep)
    return report, clock


def test_a_cache_first_deferred_late_in_a_long_scan_still_gets_its_retries(tmp_path: Path) -> None:
    with engine_rig(tmp_path, _fleet(busy_for_gets=1)) as rig:
        report, clock = _scan(rig, retry_for=60.0)
        # z-late was first deferred at 150 s, past a 60 s window counted from the scan's start.
        assert report.still_deferred == ()
        assert sorted(r.cache.name for r in report.results) == ["a-0", "a-1", "a-2", "z-late"]
        assert [r["attempt"] for r in rig.records("deferred", "z-late")] == [1, 2]  # retried at 151 and 153 s
        assert rig.records("evaluated", "z-late")


def test_a_cache_that_stays_deferred_is_reported_when_its_own_window_closes(tmp_path: Path) -> None:
    with engine_rig(tmp_path, _fleet(busy_for_gets=10)) as rig:
        report, clock = _scan(rig, retry_for=60.0)
        assert [i.cache.name for i in report.still_deferred] == ["z-late"]
        # Deferred at 150, 151, 153, 157, 165 and 181 s (backoff 1 s doubling); the next retry (213 s) is
        # past 150 + 60, so it is not waited for.
        assert [r["attempt"] for r in rig.records("deferred", "z-late")] == [1, 2, 3, 4, 5, 6]
        assert clock.now == 181.0
        assert not rig.records("evaluated", "z-late")
        finished = rig.records("scan-finished")[-1]
        assert finished["outcomes"]["deferred"] == 1
