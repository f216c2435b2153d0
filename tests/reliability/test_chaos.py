"""Issue 5 chaos test (bounded, in `make test`): 50 caches, 300 drift events (Jane's SDK writes plus
duplicated and replayed deliveries), 20% of the warden's ARM calls failing (seeded) -> every cache
converges, the audit trail verifies, and the audit counts reconcile with the emulator's request log.
`bench/chaos.py` runs the same at 500 caches with realistic latency."""

from __future__ import annotations

from pathlib import Path

from .chaos import ChaosConfig, converged, firewall_never_emptied_or_widened, reconcile_counts, run_chaos


def test_chaos_every_cache_converges_and_the_trail_reconciles_with_arm(tmp_path: Path) -> None:
    config = ChaosConfig(caches=50, jane_writes=200, duplicates=60, replays=40, fault_rate=0.2)
    run = run_chaos(tmp_path, config)

    assert run.settled, "the queues did not drain"
    assert run.jane_ok + run.jane_refused == 200 and run.duplicates_sent + run.replays_sent == 100
    assert run.poisoned == 0, "nothing may give up within the budget"
    assert sum(run.injected.values()) > 0 and set(run.injected) <= {
        "chaos:throttled", "chaos:internalError", "chaos:unavailable", "chaos:busy", "chaos:reset"}

    still_wrong = {name: why for name, body in run.finals.items() if (why := converged(body))}
    assert still_wrong == {}

    assert run.verify_exit == 0, run.verify_output
    counts = reconcile_counts(run)
    assert counts["remediated_records_match_successful_writes"], (counts["unrecorded_writes"],
                                                                  counts["phantom_remediations"])
    assert counts["failed_records_match_failed_writes"]
    assert counts["detected_match_drifted"], (counts["detected_caches"], counts["drifted_caches"])
    assert counts["deferred_for_arm_errors"] > 0 and counts["deferred_statuses_were_faults"]
    assert counts["work_items_dropped"] == 0  # every deferred WorkItem came back readable
    assert counts["blocked"] == 0  # every injected fault is transient: nothing may be refused for good
    assert counts["duplicates_ignored"] == run.duplicates_sent
    assert firewall_never_emptied_or_widened(run) == []
