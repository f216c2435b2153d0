"""What every benchmark needs: Azurite, the ARM emulator in its own process, the app's settings, events
shaped exactly as the emulator's Event Grid delivery writes them, and one result line for `run_all`.

The emulator runs in a child process so that the benchmark process's CPU time is the warden's alone
(SDK, engine, planner, audit, storage clients) and the injected latency is real waiting on a socket.
"""

from __future__ import annotations

import json
import os
import random
import resource
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from devhost.azurite import Azurite
from emulator.calls import WriteEvent
from emulator.events import RequestContext, build_event
from emulator.principals import JANE, SUBSCRIPTION_ID, TENANT_ID, WARDEN, WARDEN_CLIENT_ID, Principal
from emulator.requestlog import read_log_file

REPO = Path(__file__).resolve().parent.parent
RESULT_PREFIX = "BENCH-RESULT "
WORKSPACE = (f"/subscriptions/{SUBSCRIPTION_ID}/resourceGroups/rg-monitoring/providers/"
             "Microsoft.OperationalInsights/workspaces/law-warden")
DEMO_FLEET, DEMO_BASELINE = REPO / "demo" / "fleet.json", REPO / "demo" / "baseline.json"


@dataclass(frozen=True)
class Arm:
    """A running emulator process as clients see it."""

    arm_endpoint: str
    ca_bundle: str
    identity_endpoint: str
    identity_header: str
    request_log: Path

    def env(self) -> dict[str, str]:
        return {"REQUESTS_CA_BUNDLE": self.ca_bundle, "IDENTITY_ENDPOINT": self.identity_endpoint,
                "IDENTITY_HEADER": self.identity_header, "WARDEN_ARM_ENDPOINT": self.arm_endpoint}

    def calls(self) -> list[dict[str, Any]]:
        return read_log_file(self.request_log)

    def warden_arm_calls(self) -> list[dict[str, Any]]:
        """Calls to ARM proper by the warden's identity (token requests to the identity endpoint excluded)."""
        return [c for c in self.calls() if (c.get("caller") or {}).get("appid") == WARDEN_CLIENT_ID
                and c["path"].lower().startswith("/subscriptions/")]


@contextmanager
def emulator_process(fleet: Sequence[Mapping[str, Any]], workdir: Path, *, latency: float = 0.0,
                     queue_connection_string: str | None = None, lro_shape: str = "recorded",
                     rate_limits: Mapping[str, Any] | None = None) -> Iterator[Arm]:
    fleet_file = workdir / "fleet.json"
    fleet_file.write_text(json.dumps(list(fleet)), encoding="utf-8")
    log = workdir / "arm-requests.jsonl"
    cmd = [sys.executable, "-m", "bench.emulator_proc", "--fleet", str(fleet_file), "--latency", str(latency),
           "--lro-shape", lro_shape, "--request-log", str(log), "--ca-dir", str(workdir / "ca")]
    if queue_connection_string:
        cmd += ["--queue-connection-string", queue_connection_string]
    if rate_limits is not None:
        cmd += ["--rate-limits", json.dumps(dict(rate_limits))]
    proc = subprocess.Popen(cmd, cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)}, stdout=subprocess.PIPE,
                            stderr=(workdir / "emulator.err").open("wb"), text=True)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        if not line:
            raise RuntimeError(f"emulator did not start: {(workdir / 'emulator.err').read_text()[-2000:]}")
        ready = json.loads(line)
        yield Arm(ready["arm_endpoint"], ready["ca_bundle"], ready["identity_endpoint"], ready["identity_header"], log)
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


def app_settings(arm: Arm, azurite: Azurite, workdir: Path, baseline: Path, **overrides: str) -> dict[str, str]:
    """The demo's app settings (design section 5) pointed at this run's emulator and Azurite."""
    return {
        **arm.env(),
        "AzureWebJobsStorage": azurite.connection_string,
        "WARDEN_SUBSCRIPTIONS": SUBSCRIPTION_ID,
        "WARDEN_BASELINE": str(baseline),
        "WARDEN_DRY_RUN": "false",
        "WARDEN_AUDIT_FILE": str(workdir / "audit.jsonl"),
        "WARDEN_LOG_ANALYTICS_WORKSPACE_RESOURCE_ID": WORKSPACE,
        "WARDEN_DEFER_BASE_SECONDS": "1",
        "WARDEN_LRO_WAIT_SECONDS": "5",
        **overrides,
    }


@contextmanager
def app_environment(settings: Mapping[str, str]) -> Iterator[None]:
    """The settings in this process's environment (the app reads them from there), restored on exit."""
    from remediators.entry.runtime import reset_runtime

    saved = dict(os.environ)
    os.environ.update(settings)
    reset_runtime()
    try:
        yield
    finally:
        reset_runtime()
        os.environ.clear()
        os.environ.update(saved)


def demo_fleet(seed: int = 2) -> tuple[list[dict[str, Any]], Path]:
    """The demo fleet (`make demo`'s) with each PATCH taking 1-3 s, and the demo baseline. Knobs already set
    in the fleet (e.g. the busy cache's) are kept."""
    fleet = json.loads(DEMO_FLEET.read_text(encoding="utf-8"))
    rng = random.Random(seed)
    for entry in fleet:
        knobs = entry.setdefault("x-emulator", {})
        knobs.setdefault("lroSeconds", round(rng.uniform(1.0, 3.0), 2))
    return fleet, DEMO_BASELINE


def write_event(cache_id: str, principal: Principal = JANE, *, operation: str = "Microsoft.Cache/redis/write",
                subject: str | None = None) -> dict[str, Any]:
    """A ResourceWriteSuccess event as the emulator delivers it (the emulator's own builder)."""
    claims = {**principal.token_claims(), "aud": "https://management.azure.com/"}
    context = RequestContext(method="PATCH", url=f"https://management.azure.com{cache_id}?api-version=2024-11-01",
                             correlation_id=str(uuid.uuid4()), client_request_id=str(uuid.uuid4()),
                             client_ip="81.2.69.142")
    return build_event(WriteEvent(subject or cache_id, operation, False), claims, context,
                       subscription_id=SUBSCRIPTION_ID, tenant_id=TENANT_ID, role="Contributor",
                       principal_type=principal.principal_type)


def own_write_event(cache_id: str) -> dict[str, Any]:
    return write_event(cache_id, WARDEN)


def peak_rss_mib() -> float:
    """Peak resident set size of this process (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def emit(name: str, figures: Mapping[str, Any]) -> None:
    """One machine-readable line for run_all, after the human-readable output."""
    print(RESULT_PREFIX + json.dumps({"bench": name, **figures, "peak_rss_mib": round(peak_rss_mib(), 1)}),
          flush=True)


class Stopwatch:
    """Wall and process-CPU time of a block."""

    def __enter__(self) -> Stopwatch:
        self.wall0, self.cpu0 = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc: object) -> None:
        self.wall = time.perf_counter() - self.wall0
        self.cpu = time.process_time() - self.cpu0
