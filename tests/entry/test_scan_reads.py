"""How many ARM reads a scan and an event cost, and that fewer reads lose no finding.

The counts come from the emulator's request log, so they show how many requests OUR code sends (the real SDK
over HTTPS, Azurite for state); they prove nothing about Azure's answers. That a listing's items can stand for
the cache GET is evidence from Azure: the spec (`RedisListResult.value` is `RedisResource`, the `Redis_Get`
schema) and a recorded real listing (tests/conformance/fixtures/redis_list.json)."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from devhost.azurite import Azurite, start_azurite
from emulator.principals import WARDEN_CLIENT_ID
from emulator.server import EmulatorServer
from emulator.testing import cache_id, lro_shape_from_env, sample_cache
from remediators.arm.errors import ArmError
from remediators.engine.reconcile import Outcome
from remediators.entry.runtime import Runtime, reset_runtime
from remediators.entry.scan import MemoryDeferrer, run_scan
from remediators.resource_ids import FleetScope, Scope, parse_cache_id
from remediators.settings import Settings
from remediators.workitem import WorkItem
from tests.integration.stack import SUB, app_settings, baseline

OFFICE = ("office", "81.2.69.0", "81.2.69.255")
WORKSPACE = (f"/subscriptions/{SUB}/resourceGroups/rg-monitoring/providers/Microsoft.OperationalInsights/"
             "workspaces/law-warden")
LOGS = [{"name": "warden-logs", "properties": {"workspaceId": WORKSPACE, "logs": [
    {"category": "ConnectedClientList", "enabled": True},
    {"category": "MSEntraAuthenticationAuditLog", "enabled": True}]}}]
ACTION_GROUP = f"/subscriptions/{SUB}/resourceGroups/rg-ops/providers/microsoft.insights/actionGroups/oncall"


def _cache(name: str, rg: str = "rg-payments", **kw: Any) -> dict[str, Any]:
    kw.setdefault("firewall_rules", [OFFICE])
    return sample_cache(name, resource_group=rg, diagnostic_settings=LOGS, **kw)


@pytest.fixture(scope="module")
def az(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Azurite]:
    with start_azurite(log_path=tmp_path_factory.mktemp("scan-reads") / "azurite.log") as azurite:
        yield azurite


@pytest.fixture
def runtime_on(az: Azurite, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    """Start the emulator on a fleet and build the app's Runtime on it from app settings, in this process."""
    servers: list[EmulatorServer] = []

    def start(fleet: list[dict[str, Any]]) -> tuple[EmulatorServer, Runtime, MemoryDeferrer]:
        arm = EmulatorServer(fleet, lro_shape=lro_shape_from_env())
        arm.__enter__()
        servers.append(arm)
        rules = baseline(diagnostic_logs="remediate", metric_alerts="audit")
        for key, value in app_settings(arm, az, tmp_path / "audit.jsonl", WARDEN_BASELINE=rules,
                                       WARDEN_LOG_ANALYTICS_WORKSPACE_RESOURCE_ID=WORKSPACE,
                                       WARDEN_ACTION_GROUP_RESOURCE_ID=ACTION_GROUP).items():
            monkeypatch.setenv(key, value)
        reset_runtime()
        deferrer = MemoryDeferrer()
        return arm, Runtime.build(Settings.from_env(os.environ), deferrer=deferrer), deferrer

    yield start
    reset_runtime()
    for arm in servers:
        arm.__exit__(None, None, None)


def _reads(arm: EmulatorServer, since: int = 0) -> list[dict[str, Any]]:
    """The warden's GETs to ARM proper (token requests excluded)."""
    return [r for r in arm.requests()[since:] if (r["caller"] or {}).get("appid") == WARDEN_CLIENT_ID
            and r["method"] == "GET" and r["path"].lower().startswith("/subscriptions/")]


def _ending(reads: list[dict[str, Any]], suffix: str) -> list[str]:
    return [r["path"] for r in reads if r["path"].lower().endswith(suffix.lower())]


def test_a_compliant_rescan_costs_the_cache_at_most_two_reads(runtime_on: Any) -> None:
    fleet = [_cache("reads-a"), _cache("reads-b"), _cache("reads-c", "rg-orders"),
             _cache("reads-private", "rg-orders", properties={"publicNetworkAccess": "Disabled"})]
    arm, rt, deferrer = runtime_on(fleet)
    report = run_scan(rt, deferrer, Scope(SUB), dry_run=False, retry_for_seconds=5)
    assert {r.cache.name: str(r.outcome) for r in report.results} == {
        c["name"]: "compliant" for c in fleet}
    reads = _reads(arm)
    ids = {c["id"].lower() for c in fleet}
    per_cache = {i: [r for r in reads if (r["path"].lower().startswith(i + "/") or r["path"].lower() == i)
                     and not r["path"].lower().endswith("/diagnosticsettingscategories")]  # per type, below
                 for i in ids}
    assert not [r for r in reads if r["path"].lower() in ids], "a cache GET after the listing returned its body"
    # Firewall rules only where public access is on; diagnostic settings per cache; nothing else per cache.
    assert sorted(p.split("/")[-2] for p in _ending(reads, "/firewallRules")) == ["reads-a", "reads-b", "reads-c"]
    assert len(_ending(reads, "/diagnosticSettings")) == 4
    assert all(len(v) <= 2 for v in per_cache.values()), {k: [r["path"] for r in v] for k, v in per_cache.items()}
    # Shared reads: the categories once for the type, metric alerts once per resource group.
    assert len(_ending(reads, "/diagnosticSettingsCategories")) == 1
    assert sorted(p.split("/")[4] for p in _ending(reads, "/metricAlerts")) == ["rg-orders", "rg-payments"]


def test_drift_is_still_found_and_fixed_and_read_fresh_before_the_write(runtime_on: Any) -> None:
    """A firewall opened while public access is on, and a non-SSL port turned on: both caught from the
    listed bodies, and each cache is read again with a GET (under its lease) before anything is written."""
    fleet = [_cache("opened", firewall_rules=[OFFICE, ("anyone", "0.0.0.0", "255.255.255.255")]),
             _cache("nonssl", properties={"enableNonSslPort": True}), _cache("clean")]
    arm, rt, deferrer = runtime_on(fleet)
    report = run_scan(rt, deferrer, Scope(SUB), dry_run=False, retry_for_seconds=5)
    assert {r.cache.name: str(r.outcome) for r in report.results} == {
        "opened": "remediated", "nonssl": "remediated", "clean": "compliant"}
    assert [r["name"] for r in arm.cache(fleet[0]["id"])["firewallRules"]] == ["office"]
    assert arm.cache(fleet[1]["id"])["properties"]["enableNonSslPort"] is False
    calls = [r for r in arm.requests() if (r["caller"] or {}).get("appid") == WARDEN_CLIENT_ID]
    for cache, write in ((fleet[0], "DELETE"), (fleet[1], "PATCH")):
        key = cache["id"].lower()
        first_write = next(i for i, r in enumerate(calls) if r["method"] == write and r["path"].lower()
                           .startswith(key))
        assert any(r["method"] == "GET" and r["path"].lower() == key for r in calls[:first_write]), \
            f"{cache['name']}: written without a GET of the cache first"
    assert not [r for r in calls if r["method"] == "GET" and r["path"].lower() == fleet[2]["id"].lower()]


def test_a_listed_body_without_a_property_we_rely_on_is_read_with_a_get(runtime_on: Any) -> None:
    sparse = _cache("sparse", firewall_rules=[("anyone", "0.0.0.0", "255.255.255.255"), OFFICE])
    del sparse["properties"]["publicNetworkAccess"]  # absent means Enabled: the firewall still matters
    arm, rt, deferrer = runtime_on([sparse])
    report = run_scan(rt, deferrer, Scope(SUB), dry_run=True, retry_for_seconds=5)
    assert [str(r.outcome) for r in report.results] == ["dry-run"]
    assert {f.rule: str(f.status) for f in report.results[0].findings}["firewall"] == "non_compliant"
    assert [r["path"].lower() for r in _reads(arm) if r["path"].lower() == sparse["id"].lower()] == \
        [sparse["id"].lower()]


def test_a_compliant_event_costs_three_reads(runtime_on: Any) -> None:
    fleet = [_cache("event-a"), _cache("event-b")]
    arm, rt, _ = runtime_on(fleet)
    for entry in fleet:
        before = len(arm.requests())
        item = WorkItem(cache=parse_cache_id(entry["id"]), reason="event", first_seen=datetime.now(UTC),
                        trigger={"event_id": f"ev-{entry['name']}"})
        assert rt.engine.reconcile(item).outcome is Outcome.COMPLIANT
        reads = _reads(arm, before)
    # The second cache: its GET, its firewall rules, its diagnostic settings; categories known for the type.
    assert sorted(r["path"].rsplit("/", 1)[-1] for r in reads) == ["diagnosticSettings", "event-b", "firewallRules"]
    assert reads[0]["path"].lower() == cache_id("event-b").lower()


def test_a_scan_report_keeps_no_compliant_finding(runtime_on: Any, tmp_path: Path) -> None:
    """The report's memory bound (bench/fleet_scan.py, peak RSS at 10,000 caches): a compliant cache is its
    outcome only (its audit-only open findings are on the trail), a drifted one keeps only the findings that
    need attention. Fails if findings are kept whole."""
    fleet = [_cache("tidy"), _cache("drifted", properties={"enableNonSslPort": True})]
    arm, rt, deferrer = runtime_on(fleet)
    report = run_scan(rt, deferrer, Scope(SUB), dry_run=True, retry_for_seconds=5)
    by_name = {r.cache.name: r for r in report.results}
    assert str(by_name["tidy"].outcome) == "compliant"
    assert by_name["tidy"].findings == ()
    trail = [json.loads(line) for line in (tmp_path / "audit.jsonl").read_text().splitlines() if line.strip()]
    tidy = fleet[0]["id"]
    assert [r["statuses"]["non-ssl-port"] for r in trail if r["kind"] == "evaluated" and r["cache_id"] == tidy] \
        == ["compliant"]
    assert {r["rule"] for r in trail if r["kind"] == "detected" and r["cache_id"] == tidy} >= {"public-network-access"}
    kept = {f.rule: str(f.status) for f in by_name["drifted"].findings}
    assert kept.get("non-ssl-port") == "non_compliant"
    assert all(status in ("non_compliant", "unknown") for status in kept.values()), kept


def test_scheduled_query_rules_arg_cannot_list_are_listed_with_arm(runtime_on: Any, tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """A multi-subscription scan takes auth-alerts' scheduled query rules from one Resource Graph query; when ARG
    refuses it (here: our graph client made to raise ARG's 429), the failure is audited and each subscription's
    rules are listed with ARM by its first cache, so auth-alerts is still judged."""
    arm, rt, deferrer = runtime_on([_cache("fleet-a"), _cache("fleet-b")])
    report = run_scan(rt, deferrer, FleetScope(subscriptions=(SUB,)), dry_run=True, retry_for_seconds=5)
    alert_lists = [r for r in _reads(arm) if "scheduledqueryrules" in r["path"].lower()]
    assert len(report.results) == 2 and alert_lists == []  # ARG's answer stood for the subscription's list

    def refused(*_args: Any, **_kwargs: Any) -> Any:
        raise ArmError("throttled", "Resource Graph quota spent", code="RateLimiting", status=429)

    monkeypatch.setattr(rt.gateway.graph, "list_log_alert_rules", refused)
    since = len(arm.requests())
    report = run_scan(rt, deferrer, FleetScope(subscriptions=(SUB,)), dry_run=True, retry_for_seconds=5)
    alert_lists = [r for r in _reads(arm, since) if "scheduledqueryrules" in r["path"].lower()]
    assert len(report.results) == 2 and len(alert_lists) == 1  # one ARM list for the subscription's two caches
    assert all(str(r.outcome) != "deferred" for r in report.results)
    trail = [json.loads(line) for line in (tmp_path / "audit.jsonl").read_text().splitlines() if line.strip()]
    failed = [r for r in trail if r["kind"] == "alert" and (r.get("outcome") or {}).get("status") == "graph-failed"]
    assert len(failed) == 1 and "scheduled query rules" in failed[0]["detail"]
    assert failed[0]["outcome"]["http_status"] == 429


def test_listed_bodies_are_released_as_each_cache_is_read(runtime_on: Any) -> None:
    """The scan's memory bound: the listing's bodies (the snapshot of every cache, about 2 KB each) are held only
    until each cache's first read takes its own, so they shrink as the scan goes and none is left at the end.
    Fails if the bodies are kept for the whole scan (or kept after it)."""
    fleet = [_cache(f"held-{i}") for i in range(4)]
    arm, rt, deferrer = runtime_on(fleet)
    held: list[int] = []
    report = run_scan(rt, deferrer, FleetScope(subscriptions=(SUB,)), dry_run=True, retry_for_seconds=5,
                      progress=lambda done, total, result: held.append(rt.gateway.shared.held("listed")))
    assert [str(r.outcome) for r in report.results] == ["compliant"] * 4
    assert held == [3, 2, 1, 0]
    assert rt.gateway.shared.held("listed") == 0
    assert not [r for r in _reads(arm) if r["path"].lower().endswith(tuple(c["name"] for c in fleet))]
