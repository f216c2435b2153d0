"""Chaos benchmark: the chaos test of `tests/reliability/test_chaos.py` at fleet scale with realistic ARM
latency. Prints time to converge, ARM calls, retries and peak memory, and checks the same invariants
(every cache converged, the audit trail verifies, audit counts reconcile with the request log).

    .venv/bin/python bench/chaos.py [--caches 500] [--jane-writes 600] [--duplicates 150] [--replays 150]
                                    [--fault-rate 0.2] [--latency 0.1] [--seed N]

Figures are for this machine and this emulator; they are printed, never asserted.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "tests")]

from reliability.chaos import (  # noqa: E402  (after the path is set)
    ChaosConfig,
    converged,
    firewall_never_emptied_or_widened,
    reconcile_counts,
    run_chaos,
)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--caches", type=int, default=500)
    p.add_argument("--jane-writes", type=int, default=600)
    p.add_argument("--duplicates", type=int, default=150)
    p.add_argument("--replays", type=int, default=150)
    p.add_argument("--fault-rate", type=float, default=0.2)
    p.add_argument("--latency", type=float, default=0.1, help="seconds added to every ARM answer")
    p.add_argument("--seed", type=int, default=20260105)
    p.add_argument("--drivers", type=int, default=4)
    args = p.parse_args(argv)
    config = ChaosConfig(caches=args.caches, jane_writes=args.jane_writes, duplicates=args.duplicates,
                         replays=args.replays, fault_rate=args.fault_rate, seed=args.seed, latency=args.latency,
                         drivers=args.drivers, settle_timeout=3600)
    with tempfile.TemporaryDirectory(prefix="warden-chaos-") as tmp:
        run = run_chaos(Path(tmp), config)
        counts = reconcile_counts(run)
        not_converged = {n: why for n, body in run.finals.items() if (why := converged(body))}
        widened = firewall_never_emptied_or_widened(run)
    warden = run.warden()
    figures = {
        "caches": config.caches,
        "drift_events": {"jane_writes_ok": run.jane_ok, "jane_writes_refused_409": run.jane_refused,
                         "duplicates": run.duplicates_sent, "replays": run.replays_sent},
        "fault_rate": config.fault_rate,
        "latency_seconds": config.latency,
        "time_to_converge_seconds": round(run.seconds_to_converge, 1),
        "arm_calls_by_warden": len(warden),
        "arm_writes_by_warden": sum(1 for c in warden if c["method"] in ("PUT", "PATCH", "DELETE")),
        "faults_injected": run.injected,
        "retries": {"faulted_calls_retried_or_deferred": counts["faults_on_warden_calls"],
                    "deferrals": counts["deferred"]},
        "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "converged": not not_converged,
        "audit_verify_exit": run.verify_exit,
        "counts_reconcile": counts["remediated_records_match_successful_writes"]
        and counts["failed_records_match_failed_writes"] and counts["detected_match_drifted"],
        "pending_then_settled": counts["pending"],  # accepted PATCHes whose outcome a later read decided
        "firewall_never_emptied_or_widened": not widened,
        "poisoned": run.poisoned,
    }
    if not_converged or not figures["counts_reconcile"]:
        figures["problems"] = {
            "not_converged": dict(list(not_converged.items())[:5]),
            "not_converged_count": len(not_converged),
            "unrecorded_writes": counts["unrecorded_writes"][:5],
            "phantom_remediations": counts["phantom_remediations"][:5],
            "failed_writes_without_record": len(counts["failed_writes_without_record"]),
            "detected_caches": counts["detected_caches"],
            "drifted_caches": counts["drifted_caches"],
            "settled": run.settled,
        }
    print(json.dumps(figures, indent=2))
    ok = (run.settled and not not_converged and run.verify_exit == 0 and figures["counts_reconcile"]
          and not widened and run.poisoned == 0)
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
