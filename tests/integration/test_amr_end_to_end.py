"""Azure Managed Redis end to end: a mixed fleet (Azure Cache for Redis + Azure Managed Redis) in one scan,
and a person's database drift fixed from its Event Grid event, through Azurite, the emulator, the dev host
and the real `function_app`. Assertions are on ARM state, the request log and the audit trail."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import requests
from azure.mgmt.redisenterprise import RedisEnterpriseManagementClient

from emulator.principals import JANE, JANE_OBJECT_ID, WARDEN_CLIENT_ID
from emulator.testing import EmulatorCredential, sample_cache
from tests.amr_fleet import WORKSPACE, cluster_id, logs_to_workspace, sample_cluster
from tests.integration.stack import SUB, baseline, running_stack

DRIFTED = cluster_id("amr-drift")
CLEAN = cluster_id("amr-clean")


def amr_baseline() -> str:
    doc = json.loads(baseline(amr_tls_min_version="remediate", amr_client_protocol="remediate",
                              amr_diagnostic_logs="remediate", amr_public_network_access="audit",
                              amr_access_keys="audit", amr_cmk="audit"))
    doc["rules"]["amr-diagnostic-logs"]["parameters"] = {"workspaceId": WORKSPACE}
    return json.dumps(doc)


def fleet() -> list[dict[str, Any]]:
    return [
        sample_cache("legacy-cache", properties={"enableNonSslPort": True},
                     firewall_rules=[("office", "81.2.69.0", "81.2.69.255")]),
        sample_cluster("amr-drift", properties={"minimumTlsVersion": "1.0"},
                       database={"clientProtocol": "Plaintext", "accessKeysAuthentication": "Enabled"}),
        sample_cluster("amr-clean", diagnostic_settings=[logs_to_workspace()]),
    ]


def warden(stack: Any, method: str) -> list[dict[str, Any]]:
    return [r for r in stack.arm.requests()
            if (r["caller"] or {}).get("appid") == WARDEN_CLIENT_ID and r["method"] == method]


def test_one_scan_fixes_a_mixed_fleet_and_a_persons_database_drift(tmp_path: Path) -> None:
    with running_stack(tmp_path, fleet(), settings={"WARDEN_BASELINE": amr_baseline()}) as stack:
        resp = requests.post(f"{stack.host.http_base_url}/api/scans", json={"scope": f"/subscriptions/{SUB}"},
                             headers={"x-functions-key": stack.host.function_key}, timeout=30)
        assert resp.status_code == 202 and resp.json()["cacheCount"] == 3, resp.text
        stack.settle()

        assert stack.cache("legacy-cache")["properties"]["enableNonSslPort"] is False
        drifted = stack.arm.cluster(DRIFTED)
        assert drifted["properties"]["minimumTlsVersion"] == "1.2"
        database = drifted["databases"][0]
        assert database["properties"]["clientProtocol"] == "Encrypted"
        assert database["properties"]["accessKeysAuthentication"] == "Enabled"  # audit only: never touched
        assert [s["name"] for s in database["diagnosticSettings"]] == ["warden-logs"]

        # Minimal bodies: one cluster PATCH, one database PATCH, nothing on the compliant cluster.
        patches = {r["path"].lower(): r["body"] for r in warden(stack, "PATCH")
                   if "redisenterprise" in r["path"].lower()}
        assert patches == {DRIFTED.lower(): {"properties": {"minimumTlsVersion": "1.2"}},
                           (DRIFTED + "/databases/default").lower(): {"properties": {"clientProtocol": "Encrypted"}}}
        assert not [r for r in warden(stack, "PUT") if CLEAN.lower() in r["path"].lower()]

        records = stack.records()
        remediated = {(r["cache_id"].lower(), r["rule"]) for r in records if r["kind"] == "remediated"}
        assert {(DRIFTED.lower(), rule) for rule in ("amr-tls-min-version", "amr-client-protocol",
                                                     "amr-diagnostic-logs")} <= remediated
        assert not [r for r in records if r["kind"] == "not-evaluated"]
        finished = [r for r in records if r["kind"] == "scan-finished"]
        assert finished and finished[-1]["cache_count"] == 3
        keys = [r for r in records if r["kind"] == "detected" and r["rule"] == "amr-access-keys"]
        assert keys and keys[0]["effect"] == "audit"

        # Jane turns plaintext back on: the database event is reconciled on its cluster and fixed.
        jane = RedisEnterpriseManagementClient(EmulatorCredential(stack.arm, JANE), SUB,
                                               base_url=stack.arm.arm_endpoint, polling_interval=0)
        jane.databases.begin_update("rg-payments", "amr-drift", "default",
                                    json.dumps({"properties": {"clientProtocol": "Plaintext"}}).encode(),
                                    content_type="application/json").result()
        stack.settle()
        assert stack.arm.cluster(DRIFTED)["databases"][0]["properties"]["clientProtocol"] == "Encrypted"
        detected = [r for r in stack.records() if r["kind"] == "detected" and r["rule"] == "amr-client-protocol"
                    and (r.get("trigger") or {}).get("actor", {}).get("oid") == JANE_OBJECT_ID]
        assert detected and detected[-1]["drift_actor"] != "unknown"
        own = [r for r in stack.records() if r["kind"] == "ignored-event" and "own write" in r["detail"]
               and "redisenterprise" in (r.get("subject") or "").lower()]
        assert own, "our cluster/database writes came back as events and were dropped"


def test_report_dates_an_enterprise_sku_cluster_from_the_sku_the_engine_records(tmp_path: Path) -> None:
    """Enterprise/Enterprise Flash SKUs retire on 31/03/2027, Azure Cache for Redis on 30/09/2028: the report
    can only tell them apart because `detected` records carry the SKU read from ARM."""
    from remediators.audit.report import as_json, posture

    old = sample_cluster("amr-old-sku", database={"clientProtocol": "Plaintext"})
    old["sku"] = {"name": "Enterprise_E10", "capacity": 2}
    with running_stack(tmp_path, [old, sample_cache("acr-cache", properties={"enableNonSslPort": True})],
                       settings={"WARDEN_BASELINE": amr_baseline()}) as stack:
        resp = requests.post(f"{stack.host.http_base_url}/api/scans", json={"scope": f"/subscriptions/{SUB}"},
                             headers={"x-functions-key": stack.host.function_key}, timeout=30)
        assert resp.status_code == 202
        stack.settle()
        records = stack.records()
    assert {r.get("sku") for r in records if r["kind"] == "detected"} >= {"Enterprise_E10", "Standard"}
    from datetime import UTC, datetime

    report = {c["cache_id"].rsplit("/", 1)[-1]: c for c in as_json(posture(records), datetime.now(UTC))["caches"]}
    assert report["amr-old-sku"]["retirement"]["retires_uk"] == "31/03/2027"
    assert report["acr-cache"]["retirement"]["retires_uk"] == "30/09/2028"
