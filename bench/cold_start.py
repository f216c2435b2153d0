"""Cold start: a fresh Python process imports the Functions app and handles its first event.

The parent starts Azurite and the emulator, then runs a child process (`--child`) with the app's settings; the
child reports the seconds spent importing `function_app` and handling the first queue message (runtime
built on first use: settings, SDK clients, token, tables). The parent also reports the child's wall time
from exec to exit (interpreter start included).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from devhost.azurite import start_azurite

from .harness import REPO, WORKSPACE, app_settings, demo_fleet, emit, emulator_process, write_event


def child(cache_id: str) -> int:
    started = time.perf_counter()
    import function_app  # noqa: F401  (the import is what is measured)
    from remediators.entry.triggers import on_resource_event

    imported = time.perf_counter()
    on_resource_event(json.dumps(write_event(cache_id)), message_id="cold-start-1", dequeue_count=1)
    done = time.perf_counter()
    print(json.dumps({"import_seconds": round(imported - started, 3),
                      "first_event_seconds": round(done - imported, 3)}))
    return 0


def run(workdir: Path) -> dict[str, Any]:
    from emulator.testing import sample_cache

    logs = [{"name": "warden-logs", "properties": {"workspaceId": WORKSPACE, "logs": [
        {"category": "ConnectedClientList", "enabled": True},
        {"category": "MSEntraAuthenticationAuditLog", "enabled": True}]}}]
    cache = sample_cache("cold-1", firewall_rules=[("office", "81.2.69.0", "81.2.69.255")], diagnostic_settings=logs)
    _, baseline = demo_fleet()
    with start_azurite(log_path=workdir / "azurite.log") as az, emulator_process([cache], workdir) as arm:
        env = {**os.environ, **app_settings(arm, az, workdir, baseline), "PYTHONPATH": str(REPO)}
        started = time.perf_counter()
        proc = subprocess.run([sys.executable, "-m", "bench.cold_start", "--child", cache["id"]], cwd=REPO, env=env,
                              capture_output=True, text=True, timeout=120, check=False)
        wall = time.perf_counter() - started
    if proc.returncode != 0:
        raise RuntimeError(proc.stderr[-3000:])
    figures = json.loads(proc.stdout.strip().splitlines()[-1])
    return {**figures, "cold_start_seconds": round(figures["import_seconds"] + figures["first_event_seconds"], 3),
            "process_wall_seconds": round(wall, 3)}


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.cold_start", description=__doc__.split("\n")[0])
    p.add_argument("--child", metavar="CACHE_ID", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child:
        return child(args.child)
    with tempfile.TemporaryDirectory(prefix="warden-bench-") as tmp:
        f = run(Path(tmp))
    print(f"cold start: import {f['import_seconds']} s + first event {f['first_event_seconds']} s = "
          f"{f['cold_start_seconds']} s (process wall incl. interpreter {f['process_wall_seconds']} s)")
    emit("cold_start", f)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
