"""An in-process rig for engine reliability tests: its own Azurite (so breaker and flap rows never leak
between tests), the ARM emulator, and a real `Runtime` (real gateway, state table, queues and file audit
trail) whose clock the test can move. Only the clock is ours; every collaborator is the real one."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from azure.mgmt.redis import RedisManagementClient
from azure.storage.queue import QueueClient

from devhost.azurite import Azurite, start_azurite
from devhost.host import DevHost
from emulator.principals import JANE, WARDEN_CLIENT_ID
from emulator.server import EmulatorServer
from emulator.testing import EmulatorCredential, cache_id, lro_shape_from_env, running_emulator
from remediators.entry.runtime import Runtime
from remediators.resource_ids import parse_cache_id
from remediators.settings import Settings
from remediators.workitem import WorkItem
from tests.integration.stack import REPO, SUB, app_settings, baseline, fast_host_json, hosted_app

OFFICE = ("office", "81.2.69.0", "81.2.69.255")


def wait_for(condition: Callable[[], Any], timeout: float = 30.0) -> Any:
    """Poll a condition until it holds (returning its value) or the deadline passes (returning it falsy).
    For events the test cannot be told about, such as a late HTTP answer; never a timing assertion."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value or time.monotonic() >= deadline:
            return value
        time.sleep(0.05)


@dataclass
class Clock:
    """The engine's clock, moved by the test (windows, budgets), never by sleeping."""

    now: datetime = field(default_factory=lambda: datetime.now(UTC))

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@dataclass
class Rig:
    azurite: Azurite
    arm: EmulatorServer
    rt: Runtime
    clock: Clock
    audit_file: Path
    env: dict[str, str]

    def item(self, name: str, *, first_seen: datetime | None = None, dry_run: bool = False) -> WorkItem:
        return WorkItem(cache=parse_cache_id(cache_id(name)), reason="scan", first_seen=first_seen or self.clock(),
                        trigger={"scan_id": "00000000-0000-4000-8000-000000000000", "source": "test"},
                        dry_run=dry_run)

    def reconcile(self, name: str, **kwargs: Any):
        return self.rt.engine.reconcile(self.item(name, **kwargs))

    def records(self, kind: str | None = None, cache: str | None = None) -> list[dict[str, Any]]:
        if not self.audit_file.exists():
            return []
        rows = [json.loads(line) for line in self.audit_file.read_text().splitlines() if line.strip()]
        return [r for r in rows if (kind is None or r["kind"] == kind)
                and (cache is None or (r.get("cache_id") or "").lower().endswith("/" + cache.lower()))]

    def warden_calls(self, method: str | None = None, name: str | None = None) -> list[dict[str, Any]]:
        return [r for r in self.arm.requests()
                if (r["caller"] or {}).get("appid") == WARDEN_CLIENT_ID and (method is None or r["method"] == method)
                and (name is None or f"/redis/{name.lower()}" in r["path"].lower())]

    def warden_writes(self, name: str | None = None) -> list[dict[str, Any]]:
        return [r for r in self.warden_calls(name=name) if r["method"] in ("PUT", "PATCH", "DELETE")]

    def cache(self, name: str) -> dict[str, Any] | None:
        return self.arm.cache(cache_id(name))

    def jane(self) -> RedisManagementClient:
        return RedisManagementClient(EmulatorCredential(self.arm, JANE), SUB, base_url=self.arm.arm_endpoint,
                                     polling_interval=0)

    def queue(self, name: str) -> QueueClient:
        return QueueClient.from_connection_string(self.azurite.connection_string, name)

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        """`python -m remediators ARGS` in its own process with the app's settings (as an operator runs it)."""
        env = {**os.environ, **self.env, "PYTHONPATH": str(REPO)}
        return subprocess.run([sys.executable, "-m", "remediators", *args], env=env, cwd=REPO, capture_output=True,
                              text=True, timeout=120, check=False)


@contextmanager
def engine_rig(tmp_path: Path, fleet: Sequence[Mapping[str, Any]], *, settings: Mapping[str, str] | None = None,
               **emulator_options: Any) -> Iterator[Rig]:
    tmp_path.mkdir(parents=True, exist_ok=True)
    audit_file = tmp_path / "audit.jsonl"
    clock = Clock()
    with start_azurite(log_path=tmp_path / "azurite.log") as az, running_emulator(fleet, **emulator_options) as arm:
        env = {
            "AzureWebJobsStorage": az.connection_string,
            "WARDEN_SUBSCRIPTIONS": SUB,
            "WARDEN_ARM_ENDPOINT": arm.arm_endpoint,
            "WARDEN_DRY_RUN": "false",
            "WARDEN_BASELINE": baseline(),
            "WARDEN_AUDIT_FILE": str(audit_file),
            "WARDEN_DEFER_BASE_SECONDS": "1",
            "WARDEN_LRO_WAIT_SECONDS": "5",
            "REQUESTS_CA_BUNDLE": arm.ca_bundle,
            **(settings or {}),
        }
        rt = Runtime.build(Settings.from_env(env), credential=EmulatorCredential(arm), clock=clock)
        try:
            yield Rig(az, arm, rt, clock, audit_file, env)
        finally:
            rt.audit.close()


@dataclass
class HostStack:
    """Azurite + emulator (with Event Grid delivery into Azurite) + the real function_app in the dev host."""

    azurite: Azurite
    arm: EmulatorServer
    host: DevHost
    audit_file: Path
    env: dict[str, str]

    def records(self) -> list[dict[str, Any]]:
        if not self.audit_file.exists():
            return []
        return [json.loads(line) for line in self.audit_file.read_text().splitlines() if line.strip()]

    def jane(self) -> RedisManagementClient:
        return RedisManagementClient(EmulatorCredential(self.arm, JANE), SUB, base_url=self.arm.arm_endpoint,
                                     polling_interval=0)

    def queue(self, name: str) -> QueueClient:
        return QueueClient.from_connection_string(self.azurite.connection_string, name)


@contextmanager
def host_stack(tmp_path: Path, fleet: Sequence[Mapping[str, Any]], *, settings: Mapping[str, str] | None = None,
               **emulator_options: Any) -> Iterator[HostStack]:
    """The app as it runs in Azure, in this process, configured only through app settings (the same ones,
    and the same hosting, as the integration stack's, with every caller's writes delivered as events)."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    audit_file = tmp_path / "audit.jsonl"
    with start_azurite(log_path=tmp_path / "azurite.log") as az, EmulatorServer(
        fleet, lro_shape=lro_shape_from_env(), queue_connection_string=az.connection_string,
        exclude_appids=(), **emulator_options,
    ) as arm:
        env = app_settings(arm, az, audit_file, **(settings or {}))
        with hosted_app(az, env, fast_host_json(tmp_path)) as host:
            yield HostStack(az, arm, host, audit_file, env)
