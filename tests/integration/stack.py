"""An end-to-end stack for integration tests: Azurite, the ARM emulator, and the real `function_app`
running in the dev host, configured through the same app settings as in Azure."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from azure.mgmt.redis import RedisManagementClient
from azure.storage.queue import QueueClient

from devhost.azurite import Azurite, start_azurite
from devhost.host import DevHost
from emulator.principals import JANE, SUBSCRIPTION_ID
from emulator.server import EmulatorServer
from emulator.testing import EmulatorCredential, env_for, lro_shape_from_env
from remediators.runtime import reset_runtime

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
    settings: Mapping[str, str] | None = None,
    emulator_options: Mapping[str, Any] | None = None,
) -> Iterator[Stack]:
    audit_file = tmp_path / "audit.jsonl"
    saved = dict(os.environ)
    with start_azurite(log_path=tmp_path / "azurite.log") as az, EmulatorServer(
        fleet, lro_shape=lro_shape_from_env(), queue_connection_string=az.connection_string,
        request_log=tmp_path / "arm-requests.jsonl", **(emulator_options or {})
    ) as arm:
        env = {
            **env_for(arm),
            "AzureWebJobsStorage": az.connection_string,
            "WARDEN_SUBSCRIPTIONS": SUB,
            "WARDEN_DRY_RUN": "false",
            "WARDEN_BASELINE": baseline(),
            "WARDEN_AUDIT_FILE": str(audit_file),
            "WARDEN_DEFER_BASE_SECONDS": "1",
            "WARDEN_LRO_WAIT_SECONDS": "10",
            **(settings or {}),
        }
        os.environ.update(env)
        reset_runtime()
        try:
            import function_app

            with DevHost(function_app.app, az.connection_string, settings=env) as host:
                yield Stack(az, arm, host, audit_file)
        finally:
            reset_runtime()
            os.environ.clear()
            os.environ.update(saved)
