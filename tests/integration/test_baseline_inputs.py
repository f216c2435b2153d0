"""Issue 4 end to end: the inputs the full baseline reads (DNS zone groups, linked servers, metric alerts),
its remediations (public access closed with evidence, Entra then access keys in order, alert rules created),
manual / exempt / blocked outcomes, and `baseline-changed` written once. Real SDK clients over HTTPS against
the emulator, Azurite, the real `function_app` in the dev host; assertions on ARM state, the emulator's
request log and the audit trail."""

from __future__ import annotations

import json
import threading
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests
from azure.mgmt.redis.models import RedisUpdateParameters

from devhost.azurite import Azurite
from emulator.principals import WARDEN_CLIENT_ID
from emulator.testing import RawArm, cache_id, sample_cache
from remediators.audit import open_trail
from remediators.baseline import load_baseline
from remediators.settings import StorageSettings
from remediators.state.baseline_ledger import STALE_CLAIM, BaselineLedger, note_baseline
from remediators.state.storage import StorageClients

from .stack import ALLOWED, SUB, running_stack

OFFICE = ("office", "81.2.69.0", "81.2.69.255")
WORKSPACE = (f"/subscriptions/{SUB}/resourceGroups/rg-monitoring/providers/Microsoft.OperationalInsights/"
             "workspaces/law-warden")
ACTION_GROUP = f"/subscriptions/{SUB}/resourceGroups/rg-monitoring/providers/microsoft.insights/actionGroups/oncall"
PE_NET = f"/subscriptions/{SUB}/resourceGroups/rg-net/providers/Microsoft.Network/privateEndpoints"
ALWAYS = {"days": ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"], "start": "00:00", "end": "24:00",
          "timezone": "Europe/London"}
LOGS_OK = {"name": "warden-logs", "properties": {"workspaceId": WORKSPACE,
                                                 "logs": [{"categoryGroup": "allLogs", "enabled": True}]}}
SINK_CONFLICT = (f"Data sink '{WORKSPACE}' is already used in diagnostic setting 'ops-audit' for category "
                 "'ConnectedClientList'. Data sinks can't be reused in different settings on the same category "
                 "for the same resource.")


def _scan(stack: Any) -> None:
    resp = requests.post(f"{stack.host.http_base_url}/api/scans", json={"scope": f"/subscriptions/{SUB}"},
                         headers={"x-functions-key": stack.host.function_key}, timeout=30)
    assert resp.status_code == 202, resp.text
    stack.settle(90)


def _warden(stack: Any) -> list[dict[str, Any]]:
    return [r for r in stack.arm.requests() if (r["caller"] or {}).get("appid") == WARDEN_CLIENT_ID]


def _records(stack: Any, kind: str, cache: str | None = None, rule: str | None = None) -> list[dict[str, Any]]:
    return [r for r in stack.records() if r["kind"] == kind
            and (cache is None or (r.get("cache_id") or "").lower().endswith("/" + cache))
            and (rule is None or r.get("rule") == rule)]


def _pe(cache: str, name: str) -> dict[str, Any]:
    return {"id": cache_id(cache) + f"/privateEndpointConnections/{name}",
            "properties": {"privateEndpoint": {"id": f"{PE_NET}/{name}"},
                           "privateLinkServiceConnectionState": {"status": "Approved"},
                           "provisioningState": "Succeeded"}}


# ---------------------------------------------------------------------------------------------- scan stack


def demo_fleet() -> list[dict[str, Any]]:
    """The caches `make demo` can add for issue 4's outcomes (see the report): each one rule kind."""
    private = sample_cache("private-cache", firewall_rules=[OFFICE], diagnostic_settings=[LOGS_OK],
                           properties={"privateEndpointConnections": [_pe("private-cache", "pe-private")]})
    private["privateDnsZoneGroups"] = [{"id": f"{PE_NET}/pe-private/privateDnsZoneGroups/default", "properties": {
        "privateDnsZoneConfigs": [{"name": "privatelink-redis-cache-windows-net", "properties": {
            "privateDnsZoneId": f"/subscriptions/{SUB}/resourceGroups/rg-net/providers/Microsoft.Network/"
                                "privateDnsZones/privatelink.redis.cache.windows.net"}}]}}]
    nodns = sample_cache("nodns-cache", firewall_rules=[OFFICE], diagnostic_settings=[LOGS_OK],
                         properties={"privateEndpointConnections": [_pe("nodns-cache", "pe-nodns")]})
    exempt = sample_cache("exempt-cache", firewall_rules=[OFFICE], diagnostic_settings=[LOGS_OK],
                          properties={"enableNonSslPort": True}, tags={"warden-exemption": "EX-LEGACY-CLIENT"})
    sink = sample_cache("sink-cache", firewall_rules=[OFFICE], knobs={"faults": [{
        "method": "PUT", "resource": "diagnosticSettings", "status": 409, "code": "Conflict",
        "message": SINK_CONFLICT, "times": 5}]})
    return [private, nodns, exempt, sink]


def demo_baseline() -> str:
    rules = {
        "non-ssl-port": {"effect": "remediate"}, "tls-min-version": {"effect": "remediate"},
        "firewall": {"effect": "remediate"}, "public-network-access": {"effect": "remediate"},
        "entra-auth": {"effect": "audit"}, "access-keys": {"effect": "audit"},
        "diagnostic-logs": {"effect": "remediate", "parameters": {"workspaceId": WORKSPACE}},
        "data-residency": {"effect": "audit"}, "no-auth": {"effect": "audit"},
        "metric-alerts": {"effect": "remediate", "parameters": {
            "actionGroupId": ACTION_GROUP, "thresholds": {"cacheRead": 5e8, "cacheWrite": 5e8}}},
    }
    scopes = [{"scope": f"/subscriptions/{SUB}",
               "parameters": {"firewall": {"allowedRanges": ALLOWED, "maxRangeSize": 65536}}}]
    scopes += [{"scope": cache_id(name), "optIn": ["public-network-access"], "maintenanceWindows": [ALWAYS]}
               for name in ("private-cache", "nodns-cache")]
    exemptions = [{"id": "EX-LEGACY-CLIENT", "rule": "non-ssl-port", "scope": cache_id("exempt-cache"),
                   "expires": "2099-12-31", "justification": "legacy client on 6379 until its migration",
                   "approver": "cab@contoso.co.uk"}]
    return json.dumps({"version": 1, "dryRun": False, "rules": rules, "scopes": scopes, "exemptions": exemptions})


def test_full_baseline_scan_then_an_event(tmp_path: Path) -> None:
    with running_stack(tmp_path, demo_fleet(), settings={"WARDEN_BASELINE": demo_baseline()}) as stack:
        _scan(stack)

        # public-network-access: closed only where an approved endpoint has a private DNS zone group
        assert stack.cache("private-cache")["properties"]["publicNetworkAccess"] == "Disabled"
        patches = [r for r in _warden(stack) if r["method"] == "PATCH" and "private-cache" in r["path"]]
        assert [p["body"] for p in patches] == [{"properties": {"publicNetworkAccess": "Disabled"}}]
        assert stack.cache("nodns-cache")["properties"]["publicNetworkAccess"] == "Enabled"
        [manual] = _records(stack, "manual-action-required", "nodns-cache", "public-network-access")
        assert "private DNS zone group" in manual["detail"]

        # exemption: recorded, not fixed
        [exempt] = _records(stack, "skipped-exempt", "exempt-cache", "non-ssl-port")
        assert exempt["exemption"]["id"] == "EX-LEGACY-CLIENT"
        assert stack.cache("exempt-cache")["properties"]["enableNonSslPort"] is True

        # ARM's data-sink conflict: blocked, never retried
        [blocked] = _records(stack, "blocked", "sink-cache", "diagnostic-logs")
        assert blocked["outcome"]["code"] == "Conflict" and "Data sink" in blocked["outcome"]["message"]
        sink_puts = [r for r in _warden(stack) if r["method"] == "PUT" and "sink-cache" in r["path"]
                     and "diagnosticsettings" in r["path"].lower()]
        assert len(sink_puts) == 1

        # metric alerts: created in a scan, four per cache, each scoped to its cache only
        arm = RawArm(stack.arm)
        alerts = arm.request("GET", f"/subscriptions/{SUB}/resourceGroups/rg-payments/providers/"
                                    "Microsoft.Insights/metricAlerts", api_version="2018-03-01").json()["value"]
        by_scope: dict[str, set[str]] = {}
        for alert in alerts:
            [scope] = alert["properties"]["scopes"]
            by_scope.setdefault(scope.lower(), set()).add(alert["properties"]["criteria"]["allOf"][0]["metricName"])
        assert by_scope == {cache_id(n).lower(): {"serverLoad", "cacheLatency", "cacheRead", "cacheWrite"}
                            for n in ("private-cache", "nodns-cache", "exempt-cache", "sink-cache")}
        assert len(_records(stack, "baseline-changed")) == 1

        # a person's write: an event reconcile does not list alert rules and records no alert drift
        lists_before = [r for r in stack.arm.requests() if r["path"].lower().endswith("/metricalerts")]
        stack.jane().redis.begin_update("rg-payments", "nodns-cache",
                                        RedisUpdateParameters(enable_non_ssl_port=True)).result()
        stack.settle(60)
        assert stack.cache("nodns-cache")["properties"]["enableNonSslPort"] is False
        lists_after = [r for r in stack.arm.requests() if r["path"].lower().endswith("/metricalerts")]
        assert len(lists_after) == len(lists_before)
        event_alert_drift = [r for r in _records(stack, "detected", rule="metric-alerts")
                             if r["trigger"]["reason"] == "event"]
        assert event_alert_drift == []


# ---------------------------------------------------------------------------------------------- split PATCHes


def test_entra_then_access_keys_in_order_with_succeeded_in_between(tmp_path: Path) -> None:
    fleet = [
        sample_cache("aad-cache", firewall_rules=[OFFICE], knobs={"configuringAadForGets": 2}),
        sample_cache("basic-cache", firewall_rules=[OFFICE],
                     properties={"sku": {"name": "Basic", "family": "C", "capacity": 1}}),
    ]
    baseline = json.dumps({
        "version": 1, "dryRun": False,
        "rules": {"entra-auth": {"effect": "remediate"}, "access-keys": {"effect": "remediate"},
                  "firewall": {"effect": "remediate"}, "metric-alerts": {"effect": "disabled"},
                  "diagnostic-logs": {"effect": "disabled"}},
        "scopes": [{"scope": f"/subscriptions/{SUB}", "optIn": ["entra-auth", "access-keys"],
                    "maintenanceWindows": [ALWAYS],
                    "parameters": {"firewall": {"allowedRanges": ALLOWED, "maxRangeSize": 65536}}}],
    })
    settings = {"WARDEN_BASELINE": baseline, "WARDEN_LRO_WAIT_SECONDS": "0"}
    with running_stack(tmp_path, fleet, settings=settings) as stack:
        _scan(stack)
        props = stack.cache("aad-cache")["properties"]
        assert props["redisConfiguration"]["aad-enabled"] == "true"
        assert props["disableAccessKeyAuthentication"] is True
        patches = [r for r in _warden(stack) if r["method"] == "PATCH" and "aad-cache" in r["path"]]
        assert [p["body"] for p in patches] == [
            {"properties": {"redisConfiguration": {"aad-enabled": "true"}}},
            {"properties": {"disableAccessKeyAuthentication": True}},
        ]
        # The emulator refuses a PATCH while the cache is not Succeeded (409) and refuses keys-off before
        # Entra is on (400): every PATCH succeeding means the engine waited for Succeeded in between.
        assert all(p["status"] < 300 for p in patches)
        deferred = [r["detail"] for r in _records(stack, "deferred", "aad-cache")]
        assert any("ConfiguringAAD" in d for d in deferred), deferred
        assert not _records(stack, "blocked", "aad-cache")

        basic = stack.cache("basic-cache")["properties"]
        assert "aad-enabled" not in basic["redisConfiguration"]
        assert not [r for r in _warden(stack) if r["method"] == "PATCH" and "basic-cache" in r["path"]]
        [manual] = _records(stack, "manual-action-required", "basic-cache", "entra-auth")
        assert "Basic" in manual["detail"]


# ---------------------------------------------------------------------------------------------- baseline-changed


@pytest.fixture
def ledger(azurite: Azurite) -> BaselineLedger:
    clients = StorageClients(StorageSettings(connection_string=azurite.connection_string))
    name = f"ledger{uuid.uuid4().hex[:12]}"
    clients.table_service.create_table(name)
    return BaselineLedger(clients.table(name))


def _trail(tmp_path: Path, name: str, baseline_hash: str) -> Any:
    return open_trail(audit_file=str(tmp_path / name), signing_key=None, baseline_hash=baseline_hash,
                      our_identity=None)


def _file_records(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()] if path.exists() else []


def _doc(**rules: str) -> str:
    return json.dumps({"version": 1, "rules": {k.replace("_", "-"): {"effect": v} for k, v in rules.items()}})


def test_baseline_changed_once_with_its_diff(tmp_path: Path, ledger: BaselineLedger) -> None:
    first, second = load_baseline(_doc(no_auth="audit")), load_baseline(_doc(no_auth="disabled"))
    trail = _trail(tmp_path, "a.jsonl", first.version_hash)
    assert note_baseline(ledger, trail, first)
    assert not note_baseline(ledger, trail, first)  # a restart with the same baseline
    assert note_baseline(ledger, trail, second)
    trail.close()
    records = [r for r in _file_records(tmp_path / "a.jsonl") if r["kind"] == "baseline-changed"]
    assert [r.get("previous_baseline") for r in records] == [None, first.version_hash]
    assert records[1]["diff"] == [{"path": "/rules/no-auth/effect", "op": "replace", "old": "audit",
                                   "new": "disabled"}]


def test_concurrent_starts_write_one_record(tmp_path: Path, ledger: BaselineLedger) -> None:
    baseline = load_baseline(_doc(no_auth="audit"))
    trails = [_trail(tmp_path, f"w{i}.jsonl", baseline.version_hash) for i in range(6)]
    results: list[bool] = []
    barrier = threading.Barrier(len(trails))

    def start(trail: Any) -> None:
        barrier.wait()
        results.append(note_baseline(ledger, trail, baseline))

    threads = [threading.Thread(target=start, args=(t,)) for t in trails]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    for trail in trails:
        trail.close()
    assert sorted(results) == [False] * 5 + [True]
    written = [r for i in range(6) for r in _file_records(tmp_path / f"w{i}.jsonl") if r["kind"] == "baseline-changed"]
    assert len(written) == 1


def test_a_claim_whose_record_was_never_written_is_taken_over(tmp_path: Path, ledger: BaselineLedger) -> None:
    baseline = load_baseline(_doc(no_auth="audit"))
    now = datetime(2026, 5, 1, 9, 0, tzinfo=UTC)
    assert ledger.claim(baseline, ledger.seen(), now) is not None  # the claimer died before recording
    trail = _trail(tmp_path, "t.jsonl", baseline.version_hash)
    assert not note_baseline(ledger, trail, baseline, clock=lambda: now + timedelta(seconds=30))
    assert note_baseline(ledger, trail, baseline, clock=lambda: now + STALE_CLAIM + timedelta(seconds=1))
    trail.close()
    assert [r["kind"] for r in _file_records(tmp_path / "t.jsonl")] == ["baseline-changed"]


# ---------------------------------------------------------------------------------------------- demo additions

DEMO_DIR = Path(__file__).resolve().parents[2] / "demo"
DEMO_WORKSPACE = (f"/subscriptions/{SUB}/resourceGroups/rg-monitoring/providers/Microsoft.OperationalInsights/"
                  "workspaces/law-warden")
def test_demo_additions_show_manual_exempt_and_blocked(tmp_path: Path) -> None:
    """The demo's own fleet entries and baseline (with its exemption) behave as the demo table says."""
    wanted = {"partner-cache", "legacyclient-cache", "audit-sink-cache"}
    fleet = [e for e in json.loads((DEMO_DIR / "fleet.json").read_text()) if e["name"] in wanted]
    assert {e["name"] for e in fleet} == wanted
    settings = {"WARDEN_BASELINE": str(DEMO_DIR / "baseline.json"),
                "WARDEN_LOG_ANALYTICS_WORKSPACE_RESOURCE_ID": DEMO_WORKSPACE}
    with running_stack(tmp_path, fleet, settings=settings) as stack:
        _scan(stack)
        [manual] = _records(stack, "manual-action-required", "partner-cache", "firewall")
        assert "partner_vpn" in manual["detail"]
        assert [r["name"] for r in stack.cache("partner-cache")["firewallRules"]] == ["partner_vpn"]
        [exempt] = _records(stack, "skipped-exempt", "legacyclient-cache", "non-ssl-port")
        assert exempt["exemption"]["id"] == "EX-LEGACY-CLIENT"
        assert stack.cache("legacyclient-cache")["properties"]["enableNonSslPort"] is True
        [blocked] = _records(stack, "blocked", "audit-sink-cache", "diagnostic-logs")
        assert blocked["outcome"]["code"] == "Conflict" and "Data sink" in blocked["outcome"]["message"]
        assert not _records(stack, "deferred", "audit-sink-cache")
