"""Issue 5 crash safety: a worker process SIGKILLed mid-reconcile (seeded points, a few kills), restarted,
the queue redelivers -> every cache converges and every `remediation-started` gets its outcome or a
`resumed` record naming its open intent. Kills land mid-write: the emulator answers every ARM call late
(`latency`), and each kill follows a fresh `remediation-started` record by less than that latency."""

from __future__ import annotations

import base64
import json
import os
import random
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from azure.storage.queue import QueueClient

from devhost.azurite import start_azurite
from emulator.server import EmulatorServer
from emulator.testing import env_for, lro_shape_from_env, sample_cache
from remediators.audit.commands import audit_verify
from remediators.resource_ids import parse_cache_id
from remediators.workitem import WorkItem

from .chaos import converged
from .rig import REPO, SUB, baseline, fast_host_json, wait_for

LATENCY = 0.3
CACHES = 4
KILLS = 2
SEED = 5


def _fleet() -> list[dict]:
    return [sample_cache(f"crash-{i}", properties={"enableNonSslPort": True},
                         firewall_rules=[("office", "81.2.69.0", "81.2.69.255"),
                                         ("allow_all", "0.0.0.0", "255.255.255.255")]) for i in range(CACHES)]


def _records(path: Path) -> list[dict]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


class Workers:
    """One worker process at a time: started, SIGKILLed, restarted; never left running."""

    def __init__(self, tmp_path: Path, env: dict[str, str]) -> None:
        self.tmp_path, self.env, self.started = tmp_path, env, 0
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        log = tmp_log = self.tmp_path / f"worker-{self.started}.log"
        with tmp_log.open("wb") as err:
            self.proc = subprocess.Popen(
                [sys.executable, str(REPO / "tests/reliability/crash_worker.py"), str(fast_host_json(self.tmp_path))],
                env={**os.environ, **self.env, "PYTHONPATH": str(REPO)}, stdout=subprocess.PIPE, stderr=err,
                cwd=REPO)
        self.started += 1
        assert self.proc.stdout is not None
        assert self.proc.stdout.readline().strip() == b"ready", log.read_text(errors="replace")[-2000:]

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=30)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.kill()


def _enqueue(connection_string: str, fleet: list[dict]) -> None:
    work = QueueClient.from_connection_string(connection_string, "warden-work")
    for entry in fleet:
        item = WorkItem(cache=parse_cache_id(entry["id"]), reason="scan", first_seen=datetime.now(UTC),
                        trigger={"source": "crash-test"})
        work.send_message(base64.b64encode(item.to_json().encode()).decode())


def _count(path: Path, kind: str) -> int:
    return sum(1 for r in _records(path) if r["kind"] == kind)


def test_a_worker_killed_mid_reconcile_leaves_nothing_unaccounted(tmp_path: Path) -> None:
    rng = random.Random(SEED)
    fleet = _fleet()
    audit_file = tmp_path / "audit.jsonl"
    with start_azurite(log_path=tmp_path / "azurite.log") as az, EmulatorServer(
        fleet, lro_shape=lro_shape_from_env(), queue_connection_string=az.connection_string, latency=LATENCY,
    ) as arm:
        env = {**env_for(arm), "AzureWebJobsStorage": az.connection_string, "WARDEN_SUBSCRIPTIONS": SUB,
               "WARDEN_DRY_RUN": "false", "WARDEN_BASELINE": baseline(), "WARDEN_AUDIT_FILE": str(audit_file),
               "WARDEN_DEFER_BASE_SECONDS": "1", "WARDEN_LRO_WAIT_SECONDS": "10"}
        workers = Workers(tmp_path, env)
        try:
            workers.start()
            _enqueue(az.connection_string, fleet)
            for _ in range(KILLS):
                # Wait for a fresh intent record, then kill while that write is still on the wire.
                target = _count(audit_file, "remediation-started") + rng.randint(1, 2)
                assert wait_for(lambda t=target: _count(audit_file, "remediation-started") >= t, 90)
                time.sleep(rng.uniform(0.0, LATENCY / 2))
                workers.kill()
                workers.start()  # the queue redelivers what the dead worker held
            done = wait_for(lambda: all(not converged(arm.cache(e["id"])) for e in fleet), 180)
            assert done, {e["name"]: converged(arm.cache(e["id"])) for e in fleet}
        finally:
            workers.stop()

    records = _records(audit_file)
    outcomes = {(r.get("arm_correlation_id"), r.get("rule")) for r in records
                if r["kind"] in ("remediated", "remediation-failed")}
    resumed = [r["intent"] for r in records if r["kind"] == "resumed"]
    resumed_ids = {i["arm_correlation_id"] for i in resumed}
    unaccounted = [(r["cache_id"], r["rule"]) for r in records if r["kind"] == "remediation-started"
                   and (r["arm_correlation_id"], r["rule"]) not in outcomes
                   and r["arm_correlation_id"] not in resumed_ids]
    assert unaccounted == []
    # Each kill interrupts at most one reconcile per cache (the lease), and lands mid-write on at least one.
    assert 1 <= len(resumed) <= KILLS * CACHES
    names = {parse_cache_id(e["id"]).key for e in fleet}
    assert all(parse_cache_id(r["cache_id"]).key in names for r in records if r["kind"] == "resumed")
    interrupted = [r for r in records if r["kind"] == "remediation-started"
                   and (r["arm_correlation_id"], r["rule"]) not in outcomes]
    assert interrupted, "the kills landed while writes were in flight"
    assert audit_verify(file=str(audit_file)) == 0
