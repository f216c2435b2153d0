"""An end-to-end stack for integration tests: Azurite, the ARM emulator, and the real `function_app`
running in the dev host, configured through the same app settings as in Azure."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import requests
from azure.core.exceptions import ResourceNotFoundError
from azure.mgmt.redis import RedisManagementClient
from azure.storage.queue import QueueClient

from devhost.azurite import Azurite, start_azurite
from devhost.host import DEFAULT_HOST_JSON, DevHost
from emulator.principals import JANE, SUBSCRIPTION_ID
from emulator.server import EmulatorServer
from emulator.testing import EmulatorCredential, env_for, lro_shape_from_env
from remediators.entry.runtime import reset_runtime

SUB = SUBSCRIPTION_ID
ALLOWED = ["81.2.69.0/24", "10.20.0.0/16"]


def baseline(dry_run: bool = False, **rule_effects: str) -> str:
    rules = {
        "non-ssl-port": "remediate", "tls-min-version": "remediate", "firewall": "remediate",
        "public-network-access": "audit", "entra-auth": "audit", "access-keys": "audit",
        "diagnostic-logs": "disabled", "data-residency": "audit", "no-auth": "audit",
        "metric-alerts": "disabled",
    }
    rules.update({k.replace("_", "-"): v for k, v in rule_effects.items()})
    return json.dumps({
        "version": 1,
        "dryRun": dry_run,
        "rules": {k: {"effect": v} for k, v in rules.items()},
        "scopes": [{"scope": f"/subscriptions/{SUB}",
                    "parameters": {"firewall": {"allowedRanges": ALLOWED, "maxRangeSize": 65536}}}],
        "exemptions": [],
    })


@dataclass
class Stack:
    azurite: Azurite
    arm: EmulatorServer
    host: DevHost
    audit_file: Path

    def records(self) -> list[dict[str, Any]]:
        if not self.audit_file.exists():
            return []
        return [json.loads(line) for line in self.audit_file.read_text().splitlines() if line.strip()]

    def kinds(self, cache_name: str | None = None) -> list[str]:
        return [r["kind"] for r in self.records()
                if cache_name is None or (r.get("cache_id") or "").lower().endswith("/" + cache_name.lower())]

    def cache(self, name: str, resource_group: str = "rg-payments") -> dict[str, Any]:
        body = self.arm.cache(
            f"/subscriptions/{SUB}/resourceGroups/{resource_group}/providers/Microsoft.Cache/Redis/{name}")
        assert body is not None
        return body

    def queue(self, name: str) -> QueueClient:
        return QueueClient.from_connection_string(self.azurite.connection_string, name)

    def jane(self) -> RedisManagementClient:
        """Jane Doe's own SDK client: her writes come back as events with her claims."""
        return RedisManagementClient(EmulatorCredential(self.arm, JANE), SUB, base_url=self.arm.arm_endpoint,
                                     polling_interval=0)

    def settle(self, timeout: float = 60.0) -> None:
        assert self.host.run_until_idle(timeout), "queues did not drain in time"


@contextmanager
def running_stack(
    tmp_path: Path,
    fleet: Sequence[Mapping[str, Any]],
    *,
    settings: Mapping[str, str | None] | None = None,
    emulator_options: Mapping[str, Any] | None = None,
    host_json: Path | Mapping[str, Any] | None = None,
) -> Iterator[Stack]:
    """`host_json` (default: the repo's) lets a test shorten e.g. the queue retry delay."""
    audit_file = tmp_path / "audit.jsonl"
    with start_azurite(log_path=tmp_path / "azurite.log") as az, EmulatorServer(
        fleet, lro_shape=lro_shape_from_env(), queue_connection_string=az.connection_string,
        request_log=tmp_path / "arm-requests.jsonl", **(emulator_options or {})
    ) as arm:
        env = app_settings(arm, az, audit_file, **(settings or {}))
        with hosted_app(az, env, host_json if host_json is not None else DEFAULT_HOST_JSON) as host:
            yield Stack(az, arm, host, audit_file)


@contextmanager
def hosted_app(az: Azurite, env: dict[str, str], host_json: Path | Mapping[str, Any]) -> Iterator[DevHost]:
    """The real function_app in the dev host, in this process, configured only through app settings: they go
    into os.environ (as on Azure) and the runtime is rebuilt from them; both are undone on exit so the next
    test starts from a clean process."""
    saved = dict(os.environ)
    os.environ.update(env)
    reset_runtime()
    try:
        import function_app

        with DevHost(function_app.app, az.connection_string, settings=env, host_json=host_json) as host:
            yield host
    finally:
        reset_runtime()
        os.environ.clear()
        os.environ.update(saved)


# ---------------------------------------------------------------------------------------------- child processes
# Workers and CLI runs as separate processes on one Azurite + emulator, configured exactly like the app.

REPO = Path(__file__).resolve().parents[2]
CACHE_PATH = re.compile(r"^/subscriptions/[^/]+/resourcegroups/[^/]+/providers/microsoft\.cache/redis/[^/]+",
                        re.IGNORECASE)


def app_settings(arm: EmulatorServer, az: Azurite, audit_file: Path, **overrides: str | None) -> dict[str, str]:
    """The app settings `running_stack` uses, for a child process with its own audit file; an override of
    None removes that setting (e.g. WARDEN_BASELINE, to run the shipped default as a deployment does)."""
    merged: dict[str, str | None] = {
        **env_for(arm),
        "AzureWebJobsStorage": az.connection_string,
        "WARDEN_SUBSCRIPTIONS": SUB,
        "WARDEN_DRY_RUN": "false",
        "WARDEN_BASELINE": baseline(),
        "WARDEN_AUDIT_FILE": str(audit_file),
        "WARDEN_DEFER_BASE_SECONDS": "1",
        "WARDEN_LRO_WAIT_SECONDS": "10",
        **overrides,
    }
    return {k: v for k, v in merged.items() if v is not None}


def child_env(settings: Mapping[str, str]) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(REPO), "PYTHONUNBUFFERED": "1", **settings}


def run_cli(args: Sequence[str], settings: Mapping[str, str], *, timeout: float = 120.0,
            cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """`python -m remediators ARGS` as an operator runs it, with the app's settings."""
    return subprocess.run([sys.executable, "-m", "remediators", *args], env=child_env(settings),
                          cwd=cwd or REPO, capture_output=True, text=True, timeout=timeout, check=False)


def start_cli(args: Sequence[str], settings: Mapping[str, str], out: Path) -> subprocess.Popen[bytes]:
    """The CLI in the background (stdout to `out`, stderr to `out`.err)."""
    with out.open("wb") as stdout, out.with_suffix(".err").open("wb") as stderr:
        return subprocess.Popen([sys.executable, "-m", "remediators", *args], env=child_env(settings),
                                cwd=REPO, stdout=stdout, stderr=stderr)


def fast_host_json(tmp_path: Path) -> Path:
    """The repo's host.json with a short maximum polling interval, so a worker notices a deferred
    WorkItem becoming visible within half a second instead of up to ten."""
    doc = json.loads((REPO / "host.json").read_text(encoding="utf-8"))
    doc["extensions"]["queues"]["maxPollingInterval"] = "00:00:00.5"
    path = tmp_path / "host.fast.json"
    path.write_text(json.dumps(doc), encoding="utf-8")
    return path


@dataclass
class WorkerProcess:
    name: str
    proc: subprocess.Popen[bytes]
    base_url: str
    function_key: str
    audit_file: Path
    log_path: Path

    def post(self, path: str, body: Any = None, *, key: bool = True) -> requests.Response:
        headers = {"x-functions-key": self.function_key} if key else {}
        return requests.post(f"{self.base_url}{path}", json=body, headers=headers, timeout=30)


@contextmanager
def worker_process(tmp_path: Path, name: str, settings: Mapping[str, str], *,
                   host_json: Path | None = None, startup_timeout: float = 60.0) -> Iterator[WorkerProcess]:
    """`python -m devhost` running the real function_app in its own process; SIGTERM on exit."""
    key = f"key-{name}-{uuid.uuid4().hex[:8]}"
    out, log_path = tmp_path / f"{name}.out", tmp_path / f"{name}.log"
    audit_file = Path(settings["WARDEN_AUDIT_FILE"])
    cmd = [sys.executable, "-m", "devhost", "--port", "0", "--settings", str(tmp_path / "no-local-settings.json"),
           "--host-json", str(host_json or REPO / "host.json"), "--function-key", key]
    with out.open("wb") as stdout, log_path.open("wb") as stderr:
        proc = subprocess.Popen(cmd, env=child_env(settings), cwd=REPO, stdout=stdout, stderr=stderr)
    try:
        deadline = time.monotonic() + startup_timeout
        match = None
        while match is None:
            match = re.search(r"(http://127\.0\.0\.1:\d+)/api/scans", out.read_text(errors="replace"))
            if match is None:
                assert proc.poll() is None, f"{name} exited: {log_path.read_text(errors='replace')[-3000:]}"
                assert time.monotonic() < deadline, f"{name} did not start: {log_path.read_text()[-3000:]}"
                time.sleep(0.1)
        yield WorkerProcess(name, proc, match.group(1), key, audit_file, log_path)
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)


def queue_depth(connection_string: str, names: Sequence[str]) -> int:
    """Messages in the queues, visible or not (in flight ones included: deleted only after success)."""
    total = 0
    for name in names:
        try:
            props = QueueClient.from_connection_string(connection_string, name).get_queue_properties()
        except ResourceNotFoundError:
            continue
        total += props.approximate_message_count or 0
    return total


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def cache_key(path: str) -> str | None:
    """The lower-cased cache id an ARM path addresses (children included), or None."""
    match = CACHE_PATH.match(path)
    return match.group(0).lower() if match else None


def reconcile_windows(calls: Sequence[Mapping[str, Any]]) -> dict[str, list[tuple[datetime, datetime, str]]]:
    """Per cache, one (first start, last end, correlation id) per correlation id, sorted by start: each
    reconcile sends one x-ms-correlation-request-id on all its ARM calls."""
    spans: dict[tuple[str, str], list[datetime]] = {}
    for call in calls:
        key = cache_key(call["path"])
        if key is None:
            continue
        start, end = datetime.fromisoformat(call["time"]), datetime.fromisoformat(call["end"])
        span = spans.setdefault((key, call["correlation_id"]), [start, end])
        span[0], span[1] = min(span[0], start), max(span[1], end)
    out: dict[str, list[tuple[datetime, datetime, str]]] = {}
    for (key, corr), (start, end) in spans.items():
        out.setdefault(key, []).append((start, end, corr))
    return {k: sorted(v) for k, v in out.items()}
