"""Time to converge for the demo fleet with realistic ARM: every call answers 50 ms late and every PATCH
runs 1-3 s (per-cache `lroSeconds`; the demo's busy cache keeps its busy window).

The real function_app runs in the dev host (queue triggers from Azurite, deferrals through `warden-work`);
a `POST /api/scans` of the subscription starts the run, which ends when every queue is drained. Then each
cache is read again and planned: "converged" means no remediable write is left.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import requests

from devhost.azurite import start_azurite
from emulator.principals import SUBSCRIPTION_ID

from .harness import Stopwatch, app_environment, app_settings, demo_fleet, emit, emulator_process

LATENCY_SECONDS = 0.05


def _remaining_writes(rt: Any, cache_ids: Sequence[str], blocked: set[tuple[str, str]]) -> dict[str, int]:
    """Writes a fresh reconcile would still make, per cache (0 everywhere = converged). A write ARM refused
    for good (a `blocked` record for that cache and rule) is a person's job, not drift left, as in the demo."""
    from datetime import UTC, datetime

    from remediators.planning.planner import plan
    from remediators.resource_ids import parse_cache_id

    left = {}
    for raw in cache_ids:
        cache = parse_cache_id(raw)
        snapshot = rt.gateway.read(cache, rt.baseline.needs(cache.kind))
        writes = plan(rt.baseline.evaluate(snapshot, now=datetime.now(UTC)), snapshot).writes
        rules = [getattr(w, "rules", None) or (getattr(w, "rule", ""),) for w in writes]
        left[cache.name] = sum(1 for rs in rules if not all((cache.key, r) in blocked for r in rs))
    return left


def run(workdir: Path, timeout: float) -> dict[str, Any]:
    import function_app
    from devhost.host import DevHost
    from remediators.entry.runtime import get_runtime

    fleet, baseline = demo_fleet()
    with start_azurite(log_path=workdir / "azurite.log") as az, \
            emulator_process(fleet, workdir, latency=LATENCY_SECONDS, queue_connection_string=az.connection_string) \
            as arm, app_environment(settings := app_settings(arm, az, workdir, baseline)), \
            DevHost(function_app.app, az.connection_string, settings=settings) as host:
        with Stopwatch() as sw:
            reply = requests.post(f"{host.http_base_url}/api/scans",
                                  json={"scope": f"/subscriptions/{SUBSCRIPTION_ID}"},
                                  headers={"x-functions-key": host.function_key}, timeout=60)
            reply.raise_for_status()
            idle = host.run_until_idle(timeout)
        calls = arm.warden_arm_calls()
        records = _records(workdir / "audit.jsonl")
        blocked = {((r.get("cache_id") or "").lower(), r.get("rule")) for r in records if r["kind"] == "blocked"}
        left = _remaining_writes(get_runtime(), [e["id"] for e in fleet], blocked)
    kinds = Counter(r["kind"] for r in records)
    return {
        "caches": len(fleet),
        "latency_ms": int(LATENCY_SECONDS * 1000),
        "lro_seconds": sorted(e["x-emulator"]["lroSeconds"] for e in fleet),
        "seconds_to_converge": round(sw.wall, 2),
        "drained": idle,
        "converged": idle and not any(left.values()),
        "writes_left": {k: v for k, v in left.items() if v},
        "arm_calls": len(calls),
        "arm_writes": sum(1 for c in calls if c["method"] in ("PUT", "PATCH", "DELETE")),
        # Each reconcile sends one correlation id; LRO status polls (operationResults) are not reconciles.
        "reconciles": len({c["correlation_id"] for c in calls if not _is_poll(c["path"])}),
        "lro_polls": sum(1 for c in calls if _is_poll(c["path"])),
        "deferred": kinds.get("deferred", 0),
        "remediated": kinds.get("remediated", 0),
        "cpu_seconds": round(sw.cpu, 2),
    }


def _is_poll(path: str) -> bool:
    """LRO status polls (Location for Microsoft.Cache/redis, Azure-AsyncOperation for redisEnterprise)."""
    return "/operationresults/" in path.lower() or "/operationsstatus/" in path.lower()


def _records(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.converge", description=__doc__.split("\n")[0])
    p.add_argument("--timeout", type=float, default=120.0, help="give up after this many seconds")
    args = p.parse_args(argv)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="warden-bench-") as tmp:
        figures = run(Path(tmp), args.timeout)
    print(f"demo fleet: {figures['caches']} caches, {figures['latency_ms']} ms per ARM call, "
          f"PATCHes of {min(figures['lro_seconds'])}-{max(figures['lro_seconds'])} s")
    print(f"converged: {figures['converged']} in {figures['seconds_to_converge']} s "
          f"({figures['arm_calls']} ARM calls, {figures['arm_writes']} writes, {figures['lro_polls']} LRO polls, "
          f"{figures['reconciles']} reconciles, {figures['deferred']} deferrals); "
          f"bench took {time.perf_counter() - started:.1f} s")
    emit("converge", figures)
    return 0 if figures["converged"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
