"""`make bench` / `python bench/run_all.py`: run every benchmark in its own process and print one table.

Each benchmark is a separate process so its peak RSS is its own; each prints its own detail and one
`BENCH-RESULT {json}` line that this script collects. Figures are printed, never asserted.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
RESULT_PREFIX = "BENCH-RESULT "
# The fleet rescan: 10,000 compliant caches over 50 subscriptions against ARM's enforced buckets, time-scaled so
# that the buckets, not this machine's CPU, are the limit (bench/README.md says why this scale); the other
# figures come from runs of their own.
FLEET_SCAN = ["--caches", "10000", "--subscriptions", "50", "--time-scale", "0.003"]
BENCHMARKS: tuple[tuple[str, list[str], int], ...] = (
    ("per_event", ["--events", "20"], 300),
    ("converge", [], 300),
    ("fleet_scan", FLEET_SCAN, 3000),  # the refill bound is about 2,000 s at this scale
    ("cold_start", [], 300),
)


def run_one(module: str, args: list[str], timeout: int = 300) -> dict[str, Any]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    started = time.perf_counter()
    try:
        proc = subprocess.run([sys.executable, "-m", f"bench.{module}", *args], cwd=REPO, env=env,
                              capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        print(f"--- bench.{module}: no answer within {timeout} s", file=sys.stderr)
        return {"bench": module, "failed": True, "exit": "timeout"}
    detail = [line for line in proc.stdout.splitlines() if not line.startswith(RESULT_PREFIX)]
    print(f"--- bench.{module} ({time.perf_counter() - started:.1f} s, exit {proc.returncode})")
    print("\n".join(detail))
    results = [json.loads(line[len(RESULT_PREFIX):]) for line in proc.stdout.splitlines()
               if line.startswith(RESULT_PREFIX)]
    if proc.returncode != 0 or not results:
        print(proc.stderr[-4000:], file=sys.stderr)
        return {"bench": module, "failed": True, "exit": proc.returncode}
    return results[-1]


def table(rows: list[tuple[str, str]]) -> str:
    width = max(len(k) for k, _ in rows)
    return "\n".join(f"{k.ljust(width)}  {v}" for k, v in rows)


def summarise(per_event: dict[str, Any] | None, converge: dict[str, Any] | None, fleet: dict[str, Any] | None = None,
              cold: dict[str, Any] | None = None) -> list[tuple[str, str]]:
    """The table's rows; a benchmark not run (None) has none."""
    rows: list[tuple[str, str]] = []
    if per_event is None:
        pass
    elif not per_event.get("failed"):
        for name, c in per_event["classes"].items():
            rows.append((f"ARM calls per event ({name})",
                         f"{c['arm_calls_per_event']:g}  {c['calls_by_method']}"))
        for name, c in per_event["classes"].items():
            rows.append((f"CPU ms per event ({name})",
                         f"{c['cpu_ms_per_event']:g}  (wall {c['wall_ms_per_event']:g} ms)"))
        rows.append(("peak RSS, per-event run", f"{per_event['peak_rss_mib']} MiB"))
    else:
        rows.append(("per-event benchmark", f"FAILED (exit {per_event['exit']})"))
    if converge is None:
        pass
    elif not converge.get("failed"):
        lro = converge["lro_seconds"]
        rows.append(("demo fleet converge time",
                     f"{converge['seconds_to_converge']} s for {converge['caches']} caches "
                     f"({converge['latency_ms']} ms/call, PATCH {min(lro)}-{max(lro)} s), "
                     f"converged={converge['converged']}"))
        rows.append(("demo fleet ARM traffic",
                     f"{converge['arm_calls']} calls, {converge['arm_writes']} writes, "
                     f"{converge['lro_polls']} LRO polls, {converge['reconciles']} reconciles, "
                     f"{converge['deferred']} deferrals"))
        rows.append(("demo fleet CPU / peak RSS", f"{converge['cpu_seconds']} s / {converge['peak_rss_mib']} MiB"))
    else:
        rows.append(("demo fleet converge", f"FAILED (exit {converge['exit']})"))
    if fleet is not None:
        rows += _fleet_rows(fleet)
    if cold is not None:
        rows.append(("cold start (import + first event)",
                     f"{cold['cold_start_seconds']} s (import {cold['import_seconds']} s, first event "
                     f"{cold['first_event_seconds']} s; process incl. interpreter {cold['process_wall_seconds']} s)"
                     if not cold.get("failed") else f"FAILED (exit {cold['exit']})"))
    return rows


def _fleet_rows(f: dict[str, Any]) -> list[tuple[str, str]]:
    if f.get("failed"):
        return [("fleet rescan", f"FAILED (exit {f['exit']})")]
    where = f"{f['caches']} caches / {f['subscriptions']} subs"
    return [
        (f"reads per cache, compliant rescan ({where})",
         f"{f['reads_per_cache']:g}  ({f['arm_reads']} ARM reads {f.get('reads_by_kind', {})}; listed by "
         f"{f['listing']}, {f['graph_queries']} Resource Graph queries)"),
        ("rescan wall vs refill bound",
         f"{f['wall_seconds']} s vs {f['refill_bound_seconds']} s = {f['ratio_to_bound']}x  (buckets 250 / "
         f"25 per s x{f['time_scale']:g}, Retry-After >= {f['retry_after_floor']} s)"),
        ("rescan 429s received / not finished",
         f"{f['throttled_429']} ARM + {f['graph_429']} Resource Graph / {f['not_finished']}  {f['outcomes']}"),
        ("rescan CPU per cache / peak RSS", f"{f['cpu_ms_per_cache']} ms / {f.get('scan_peak_rss_mib')} MiB during "
         f"the scan ({f['peak_rss_mib']} MiB after reading the request log)"),
    ]


def main() -> int:
    started = time.perf_counter()
    only = set(sys.argv[1:])  # `run_all.py fleet_scan cold_start`: just those
    results = {name: run_one(name, args, timeout) for name, args, timeout in BENCHMARKS if not only or name in only}
    print(f"\n=== redis-warden bench ({time.perf_counter() - started:.0f} s, {os.cpu_count()} CPUs, "
          f"Python {sys.version.split()[0]})")
    print(table(summarise(results.get("per_event"), results.get("converge"), results.get("fleet_scan"),
                          results.get("cold_start"))))
    return 1 if any(r.get("failed") for r in results.values()) else 0


if __name__ == "__main__":
    raise SystemExit(main())
