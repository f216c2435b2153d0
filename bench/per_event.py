"""ARM calls and CPU milliseconds per event: a compliant cache, a drifted cache, and our own write.

Events are handed to `remediators.entry.triggers.on_resource_event` in this process with a Runtime built on the
emulator (own process, no latency) and Azurite, exactly as the queue trigger calls it. ARM calls are counted
from the emulator's request log (the warden's identity only); CPU is this process's `time.process_time`.
The first event is a warm-up (SDK clients, token, tables) and is not counted. The audit trail is Azure's
default, append blobs in Azurite (one append per record); `--audit file` takes the CLI's JSON-lines file
instead (no HTTP per record), as this bench did before 2026-12-03.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import uuid
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from devhost.azurite import start_azurite
from emulator.testing import sample_cache

from .harness import (
    Stopwatch,
    app_environment,
    app_settings,
    demo_fleet,
    emit,
    emulator_process,
    own_write_event,
    write_event,
)

OFFICE = ("office", "81.2.69.0", "81.2.69.255")


def _fleet(compliant: int, drifted: int, workspace: str) -> list[dict[str, Any]]:
    logs = [{"name": "warden-logs", "properties": {"workspaceId": workspace, "logs": [
        {"category": "ConnectedClientList", "enabled": True},
        {"category": "MSEntraAuthenticationAuditLog", "enabled": True}]}}]
    ok = [sample_cache(f"bench-ok-{i}", firewall_rules=[OFFICE], diagnostic_settings=logs) for i in range(compliant)]
    bad = [sample_cache(f"bench-drift-{i}", properties={"enableNonSslPort": True}, firewall_rules=[OFFICE],
                        diagnostic_settings=logs) for i in range(drifted)]
    return ok + bad


def run(events_per_class: int, workdir: Path, audit: str = "blob") -> dict[str, Any]:
    from remediators.entry.runtime import get_runtime
    from remediators.entry.triggers import on_resource_event

    from .harness import WORKSPACE

    fleet = _fleet(compliant=4, drifted=events_per_class, workspace=WORKSPACE)
    ok_ids = [e["id"] for e in fleet if "bench-ok" in e["name"]]
    drift_ids = [e["id"] for e in fleet if "bench-drift" in e["name"]]
    _, baseline = demo_fleet()
    with start_azurite(log_path=workdir / "azurite.log") as az, emulator_process(fleet, workdir) as arm, \
            app_environment(app_settings(arm, az, workdir, baseline,
                                         **({} if audit == "file" else {"WARDEN_AUDIT_FILE": ""}))):
        rt = get_runtime()

        def handle(events: Sequence[dict[str, Any]]) -> dict[str, Any]:
            before = len(arm.warden_arm_calls())
            with Stopwatch() as sw:
                for event in events:
                    on_resource_event(json.dumps(event), message_id=str(uuid.uuid4()), dequeue_count=1, rt=rt)
            calls = arm.warden_arm_calls()[before:]
            n = len(events)
            return {"events": n, "arm_calls_per_event": round(len(calls) / n, 2),
                    "cpu_ms_per_event": round(1000 * sw.cpu / n, 1), "wall_ms_per_event": round(1000 * sw.wall / n, 1),
                    "calls_by_method": dict(Counter(f"{c['method']}" for c in calls))}

        handle([write_event(ok_ids[0])])  # warm-up
        results = {
            "compliant": handle([write_event(ok_ids[i % len(ok_ids)]) for i in range(events_per_class)]),
            "drifted": handle([write_event(cid) for cid in drift_ids]),
            "own-write": handle([own_write_event(ok_ids[i % len(ok_ids)]) for i in range(events_per_class)]),
        }
        remaining = [cid for cid in drift_ids if (rt.gateway.read(_parse(cid)).resource["properties"]
                                                   .get("enableNonSslPort"))]
        results["drifted"]["left_drifted"] = len(remaining)
    return results


def _parse(cache_id: str) -> Any:
    from remediators.resource_ids import parse_cache_id

    return parse_cache_id(cache_id)


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.per_event", description=__doc__.split("\n")[0])
    p.add_argument("--events", type=int, default=20, help="events per class (default 20)")
    p.add_argument("--audit", choices=("blob", "file"), default="blob",
                   help="audit sink: append blobs as in Azure (default) or the CLI's file")
    args = p.parse_args(argv)
    if args.events < 1:
        p.error("--events must be at least 1")
    with tempfile.TemporaryDirectory(prefix="warden-bench-") as tmp:
        results = run(args.events, Path(tmp), args.audit)
    print(f"audit sink: {args.audit}")
    for name, figures in results.items():
        print(f"{name:10} {figures['arm_calls_per_event']:6} ARM calls/event  {figures['cpu_ms_per_event']:7} "
              f"CPU ms/event  {figures['wall_ms_per_event']:7} wall ms/event  {figures['calls_by_method']}")
    emit("per_event", {"classes": results})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
