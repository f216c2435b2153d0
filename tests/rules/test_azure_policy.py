"""azure-policy: Azure Policy's compliance states, read through azure-mgmt-policyinsights from the emulator
(shaped as the REST reference's PolicyStates_ListQueryResultsForResource list: `@odata.count`, `value` rows
with policyAssignmentId / policyDefinitionId / complianceState; no recorded response was found, so this proves
our code against our emulator only), judged by the rule and shown by `report` and `policy_compliance`."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from azure.identity import ManagedIdentityCredential

from emulator.principals import SUBSCRIPTION_ID
from emulator.server import EmulatorServer
from emulator.testing import cache_id, running_emulator, sample_cache
from remediators.arm.gateway import Gateway
from remediators.audit.report import as_json, policy_compliance, posture
from remediators.models import CacheSnapshot, PolicyState, Status
from remediators.resource_ids import parse_cache_id
from remediators.rules import rule_by_id
from remediators.rules.base import RuleContext

ASSIGN = f"/subscriptions/{SUBSCRIPTION_ID}/providers/Microsoft.Authorization/policyAssignments/redis-warden-"
DEF = "/providers/Microsoft.Authorization/policyDefinitions/"


def row(short: str, definition: str, state: str) -> dict[str, object]:
    return {"policyAssignmentId": ASSIGN + short, "policyDefinitionId": DEF + definition,
            "complianceState": state, "isCompliant": state == "Compliant", "timestamp": "2026-12-02T10:00:00Z"}


@pytest.fixture
def server() -> Iterator[EmulatorServer]:
    flagged = sample_cache("flagged-cache", properties={"enableNonSslPort": True})
    flagged["policyStates"] = [row("22bee202", "22bee202-a82f-4305-9a2a-6d7f44d4dedb", "NonCompliant"),
                               row("470baccb", "470baccb-7e51-4549-8b1a-3e5be069f663", "Compliant")]
    with running_emulator([flagged, sample_cache("unassigned-cache")]) as srv:
        yield srv


def test_states_are_read_judged_and_the_post_is_a_query(server: EmulatorServer) -> None:
    gw = Gateway(server.arm_endpoint, ManagedIdentityCredential(), timeout=10, polling_interval=0.0)
    snap = gw.read(parse_cache_id(cache_id("flagged-cache")), frozenset({"policy_states"}))
    assert snap.policy_states is not None and len(snap.policy_states) == 2
    v = rule_by_id("azure-policy").evaluate(snap, RuleContext())
    assert v.status is Status.NON_COMPLIANT and "22bee202 (NonCompliant)" in v.reason
    empty = gw.read(parse_cache_id(cache_id("unassigned-cache")), frozenset({"policy_states"}))
    assert empty.policy_states == ()
    assert rule_by_id("azure-policy").evaluate(empty, RuleContext()).status is Status.NOT_APPLICABLE
    posts = [r for r in server.requests() if "policystates" in r["path"].lower()]
    assert posts and all(r["method"] == "POST" for r in posts)


def test_rule_states_without_arm() -> None:
    cid = parse_cache_id(cache_id("x"))
    ok = CacheSnapshot(cache_id=cid, resource={}, policy_states=(PolicyState("a", "d", "Compliant"),))
    assert rule_by_id("azure-policy").evaluate(ok, RuleContext()).status is Status.COMPLIANT
    unread = CacheSnapshot(cache_id=cid, resource={})
    assert rule_by_id("azure-policy").evaluate(unread, RuleContext()).status is Status.UNKNOWN
    skipped = CacheSnapshot(cache_id=cid, resource={}, skipped_inputs=frozenset({"policy_states"}))
    assert rule_by_id("azure-policy").evaluate(skipped, RuleContext()).status is Status.NOT_APPLICABLE


def test_report_and_policy_compliance_show_the_recorded_states() -> None:
    cid = cache_id("flagged-cache")
    states = [{"assignment": ASSIGN + "22bee202", "definition": DEF + "22bee202", "state": "NonCompliant"}]
    records = [{"kind": "detected", "cache_id": cid, "rule": "azure-policy", "severity": "medium",
                "finding_status": "non_compliant", "before": states, "time": "2026-12-02T10:00:00.000000Z"}]
    assert policy_compliance(records) == {cid: states}
    report = as_json(posture(records), datetime(2026, 12, 2, 11, tzinfo=UTC))
    assert report["caches"][0]["azure_policy"] == states
    assert json.loads(json.dumps(report)) == report  # the JSON report stays serialisable
