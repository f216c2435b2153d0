"""A compliant rescan of a fleet spread over many subscriptions, against ARM's token buckets.

The emulator (own process) enforces ARM's 2024 buckets per subscription and principal (reads 250 refilling
25/s, emulator/throttling.py), refilling `--time-scale` times as fast as ARM's (below 1: slower, so a short
run is bound by the buckets as a long real one is) and asking for a Retry-After of at least `--retry-after`
seconds on every 429. The warden scans the way `scan --subscription A,B,...` does: the whole fleet listed with
one Azure Resource Graph query (`--per-subscription`: one ARM-listed scan per subscription, as before),
each cache reconciled in this process (`run_scan`, Azurite for state). `--via queue` runs it as in Azure
instead: the nightly timer fires in the dev host (devhost/: the real function_app and host.json's bounded
queue concurrency, one instance), one scan of the tenant's root management group listed by Resource Graph
(`--per-subscription`: one ARM-listed scan per subscription) with its work items queued on `warden-work`
interleaved by subscription, and the host's workers reconcile them until the queues are empty (deferred items
come back when their visibility delay ends); failures are caches their scan never counted done and messages
in `warden-work-poison`. The warden's pacing model is told the emulator's scale (`WARDEN_ARM_RATE_SCALE`).

Printed: ARM reads per cache, Resource Graph queries, 429s received (ARM's and ARG's), caches not finished
(failures), wall time and its ratio to the refill bound (the least time ARM's buckets allow for the reads
this scan made: per subscription max(0, reads - 250) / refill, subscriptions refilling in parallel), CPU per
cache and peak RSS.

    .venv/bin/python -m bench.fleet_scan [--caches 10000] [--subscriptions 50] [--time-scale 1] [--retry-after 0]
        [--per-subscription] [--via cli|queue]
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from devhost.azurite import start_azurite
from emulator.principals import TENANT_ID, WARDEN_CLIENT_ID
from emulator.testing import sample_cache

from .harness import (
    REPO,
    WORKSPACE,
    Stopwatch,
    app_environment,
    app_settings,
    demo_fleet,
    emit,
    emulator_process,
    peak_rss_mib,
)

OFFICE = ("office", "81.2.69.0", "81.2.69.255")
BUCKET, REFILL = 250.0, 25.0
GROUPS_PER_SUBSCRIPTION = 4


def subscription_ids(n: int) -> list[str]:
    return [f"{i + 1:08x}-0000-4000-8000-{i + 1:012x}" for i in range(n)]


def fleet(caches: int, subscriptions: Sequence[str]) -> list[dict[str, Any]]:
    logs = [{"name": "warden-logs", "properties": {"workspaceId": WORKSPACE, "logs": [
        {"category": "ConnectedClientList", "enabled": True},
        {"category": "MSEntraAuthenticationAuditLog", "enabled": True}]}}]
    return [sample_cache(f"scan-{i}", subscription_id=subscriptions[i % len(subscriptions)],
                         resource_group=f"rg-{i // len(subscriptions) % GROUPS_PER_SUBSCRIPTION}",
                         firewall_rules=[OFFICE], diagnostic_settings=logs)
            for i in range(caches)]


def read_kind(path: str) -> str:
    """What an ARM GET read, by its path's last segments: the cache itself, a child list, a shared list."""
    parts = path.split("?")[0].rstrip("/").split("/")
    last = parts[-1].lower()
    if len(parts) == 9 and parts[6].lower() == "microsoft.cache":
        return "cache GET"
    if last in ("redis", "redisenterprise"):
        return "cache list"
    return {"firewallrules": "firewall rules", "diagnosticsettings": "diagnostic settings",
            "diagnosticsettingscategories": "diagnostic categories", "scheduledqueryrules": "scheduled query rules",
            "metricalerts": "metric alerts"}.get(last, "/".join(parts[-2:]) if len(parts) > 2 else last)


def refill_bound(reads_per_subscription: Counter[str], time_scale: float) -> float:
    return max((max(0.0, n - BUCKET) / (REFILL * time_scale) for n in reads_per_subscription.values()), default=0.0)


def scan_through_queue(connection_string: str, workdir: Path, timeout: float) -> tuple[Counter[str], int, int]:
    """The nightly timer in the dev host, then its workers until every queue is empty: (outcomes, caches not
    finished, caches scanned)."""
    from azure.storage.queue import QueueClient

    import function_app
    from devhost.host import DevHost
    from remediators.entry.runtime import get_runtime

    doc = json.loads((REPO / "host.json").read_text(encoding="utf-8"))
    doc["extensions"]["queues"]["maxPollingInterval"] = "00:00:00.5"  # notice a due deferral promptly
    host_json = workdir / "host.bench.json"
    host_json.write_text(json.dumps(doc), encoding="utf-8")
    with DevHost(function_app.app, connection_string, settings=dict(os.environ), host_json=host_json) as host:
        host.fire_timer("nightly_scan")
        idle = host.run_until_idle(timeout)
        rt = get_runtime()
        audit = [json.loads(line) for line in (workdir / "audit.jsonl").read_text().splitlines() if line.strip()]
        outcomes: Counter[str] = Counter()
        not_done = scanned = 0
        for record in audit:
            if record["kind"] == "scan-started" and (progress := rt.state.scan(record["scan_id"])) is not None:
                outcomes.update(progress.outcomes)
                not_done += progress.total - progress.done
                scanned += progress.total
        poison = QueueClient.from_connection_string(connection_string, "warden-work-poison")
        not_done += len(poison.peek_messages(max_messages=32))
        if not idle:
            print(f"warning: the queues were not empty after {timeout:.0f} s")
    return outcomes, not_done, scanned


def run(caches: int, subs: int, time_scale: float, retry_after: int, retry_for: float, workdir: Path, *,
        per_subscription: bool = False, via: str = "cli") -> dict[str, Any]:
    from remediators.engine.reconcile import Outcome
    from remediators.entry.runtime import Runtime
    from remediators.entry.scan import MemoryDeferrer, ScanScope, run_scan
    from remediators.resource_ids import FleetScope, Scope
    from remediators.settings import Settings

    ids = subscription_ids(subs)
    entries = fleet(caches, ids)
    _, baseline = demo_fleet()
    limits = {"enforce": True, "timeScale": time_scale, "retryAfterFloor": retry_after}
    # Through the queue the nightly timer scans the tenant's root management group (one Resource Graph listing
    # of every subscription, as `scan --subscription A,B,...` does) unless --per-subscription asks for one
    # ARM-listed scan per subscription.
    nightly = {} if per_subscription or via != "queue" else {"WARDEN_NIGHTLY_MANAGEMENT_GROUP": TENANT_ID}
    with start_azurite(log_path=workdir / "azurite.log") as az, \
            emulator_process(entries, workdir, rate_limits=limits) as arm, \
            app_environment(app_settings(arm, az, workdir, baseline, WARDEN_SUBSCRIPTIONS=",".join(ids),
                                         WARDEN_ARM_RATE_SCALE=f"{time_scale:g}", **nightly)):
        outcomes: Counter[str] = Counter()
        not_done = 0
        scopes: list[ScanScope] = ([Scope(sub) for sub in ids] if per_subscription or subs == 1 or via == "queue"
                                   else [FleetScope(subscriptions=tuple(ids))])
        scanned = 0
        with Stopwatch() as sw:
            if via == "queue":
                outcomes, not_done, scanned = scan_through_queue(az.connection_string, workdir, timeout=3600.0)
                scopes = []
            else:
                deferrer = MemoryDeferrer()
                rt = Runtime.build(Settings.from_env(os.environ), deferrer=deferrer)
            for scope in scopes:
                report = run_scan(rt, deferrer, scope, dry_run=False, retry_for_seconds=retry_for)
                outcomes.update(str(r.outcome) for r in report.results)
                scanned += len(report.results) + len(report.still_deferred)
                not_done += len(report.still_deferred)
                not_done += sum(1 for r in report.results if r.outcome is Outcome.GAVE_UP)
        scan_rss = peak_rss_mib()  # before the request log is read into this process (20,000+ entries)
        calls = arm.warden_arm_calls()
        graph = [c for c in arm.calls() if (c.get("caller") or {}).get("appid") == WARDEN_CLIENT_ID
                 and "resourcegraph" in c["path"].lower()]
    not_done += caches - scanned  # a cache the listing missed is a failure too
    reads = [c for c in calls if c["method"] == "GET"]
    # A refused read takes no token (emulator/throttling.py), so the bound counts the reads ARM accepted.
    per_sub: Counter[str] = Counter(c["path"].split("/")[2].lower() for c in reads if c["status"] != 429)
    bound = refill_bound(per_sub, time_scale)
    return {
        "via": via, "caches": caches, "subscriptions": subs, "time_scale": time_scale, "retry_after_floor": retry_after,
        "arm_reads": len(reads), "reads_per_cache": round(len(reads) / caches, 3),
        "reads_by_kind": dict(Counter(read_kind(c["path"]) for c in reads).most_common()),
        "listing": ("the nightly timer's Resource Graph listing (tenant root group)" if nightly
                    else "the nightly timer's ARM lists") if via == "queue" else "per-subscription ARM lists"
        if len(scopes) > 1 else ("Resource Graph" if isinstance(scopes[0], FleetScope) else "ARM lists"),
        "graph_queries": len(graph), "graph_429": sum(1 for c in graph if c["status"] == 429),
        "throttled_429": sum(1 for c in calls if c["status"] == 429),
        "not_finished": not_done, "outcomes": dict(outcomes),
        "wall_seconds": round(sw.wall, 1), "refill_bound_seconds": round(bound, 1),
        "ratio_to_bound": round(sw.wall / bound, 2) if bound > 0 else None,
        "cpu_ms_per_cache": round(1000 * sw.cpu / caches, 1), "scan_peak_rss_mib": round(scan_rss, 1),
    }


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.fleet_scan", description=__doc__.split("\n")[0])
    p.add_argument("--caches", type=int, default=1000)
    p.add_argument("--subscriptions", type=int, default=10)
    p.add_argument("--time-scale", type=float, default=1.0, help="buckets refill this many times faster than ARM's")
    p.add_argument("--retry-after", type=int, default=0, help="every 429 asks for at least this many seconds")
    p.add_argument("--retry-for", type=float, default=120.0, help="retry window per cache (s)")
    p.add_argument("--per-subscription", action="store_true",
                   help="one ARM-listed scan per subscription instead of one Resource Graph listing")
    p.add_argument("--via", choices=("cli", "queue"), default="cli",
                   help="cli: `scan` in this process; queue: the nightly timer and the host's workers, as in Azure")
    args = p.parse_args(argv)
    if not 0.001 <= args.time_scale <= 1000:
        p.error("--time-scale must be between 0.001 and 1000 (WARDEN_ARM_RATE_SCALE)")
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="warden-bench-") as tmp:
        f = run(args.caches, args.subscriptions, args.time_scale, args.retry_after, args.retry_for, Path(tmp),
                per_subscription=args.per_subscription, via=args.via)
    print(f"rescan via {f['via']} of {f['caches']} compliant caches over {f['subscriptions']} subscriptions "
          f"(buckets x{f['time_scale']:g}, Retry-After >= {f['retry_after_floor']} s, listed by {f['listing']}, "
          f"{f['graph_queries']} Resource Graph queries): "
          f"{f['reads_per_cache']} reads/cache, {f['throttled_429']} 429s, {f['not_finished']} not finished, "
          f"{f['wall_seconds']} s wall vs refill bound {f['refill_bound_seconds']} s (ratio {f['ratio_to_bound']}), "
          f"{f['cpu_ms_per_cache']} CPU ms/cache, peak RSS {f['scan_peak_rss_mib']} MiB during the scan, "
          f"outcomes {f['outcomes']}; "
          f"reads by kind {f['reads_by_kind']}; bench took {time.perf_counter() - started:.0f} s")
    emit("fleet_scan", f)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
