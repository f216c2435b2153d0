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
BENCHMARKS: tuple[tuple[str, list[str]], ...] = (
    ("per_event", ["--events", "20"]),
    ("converge", []),
)


def run_one(module: str, args: list[str]) -> dict[str, Any]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    started = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", f"bench.{module}", *args], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=300, check=False)
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


def summarise(per_event: dict[str, Any], converge: dict[str, Any]) -> list[tuple[str, str]]:
    rows: list[tuple[str, str]] = []
    if not per_event.get("failed"):
        for name, c in per_event["classes"].items():
            rows.append((f"ARM calls per event ({name})",
                         f"{c['arm_calls_per_event']:g}  {c['calls_by_method']}"))
        for name, c in per_event["classes"].items():
            rows.append((f"CPU ms per event ({name})",
                         f"{c['cpu_ms_per_event']:g}  (wall {c['wall_ms_per_event']:g} ms)"))
        rows.append(("peak RSS, per-event run", f"{per_event['peak_rss_mib']} MiB"))
    else:
        rows.append(("per-event benchmark", f"FAILED (exit {per_event['exit']})"))
    if not converge.get("failed"):
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
    return rows


def main() -> int:
    started = time.perf_counter()
    results = {name: run_one(name, args) for name, args in BENCHMARKS}
    print(f"\n=== redis-warden bench ({time.perf_counter() - started:.0f} s, {os.cpu_count()} CPUs, "
          f"Python {sys.version.split()[0]})")
    print(table(summarise(results["per_event"], results["converge"])))
    return 1 if any(r.get("failed") for r in results.values()) else 0


if __name__ == "__main__":
    raise SystemExit(main())
