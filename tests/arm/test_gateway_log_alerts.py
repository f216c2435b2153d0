"""Scheduled query rules read by the real gateway over HTTPS from the emulator, judged by auth-alerts. The
rule bodies are what infra/modules/auth-alerts.bicep would deploy (queries computed from the module), so a
change to the module that stops satisfying the rule fails here; the list response shape is our emulator's
(no recording), so this is not evidence about ARM."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from azure.identity import ManagedIdentityCredential

from emulator.principals import SUBSCRIPTION_ID
from emulator.server import EmulatorServer
from emulator.testing import cache_id, running_emulator, sample_cache
from remediators.arm.gateway import Gateway
from remediators.resource_ids import parse_cache_id
from remediators.rules import rule_by_id
from remediators.rules.base import RuleContext
from tests.infra.test_auth_alert_queries import deployed_queries

WS = (f"/subscriptions/{SUBSCRIPTION_ID}/resourceGroups/rg-monitoring/providers/Microsoft.OperationalInsights/"
      "workspaces/law")


def deployed(scope: str = WS) -> list[dict[str, Any]]:
    rg = f"/subscriptions/{SUBSCRIPTION_ID}/resourceGroups/rg-warden/providers/Microsoft.Insights/scheduledQueryRules"
    return [{"id": f"{rg}/alert-warden-{d}", "location": "uksouth", "kind": "LogAlert",
             "tags": {"warden-detection": d, "azd-env-name": "prod"},
             "properties": {"enabled": True, "scopes": [scope], "severity": 1, "evaluationFrequency": "PT5M",
                            "windowSize": "PT15M", "criteria": {"allOf": [{"query": q, "timeAggregation": "Count",
                                                                          "operator": "GreaterThan", "threshold": 0}]}}}
            for d, q in deployed_queries().items()]


@pytest.fixture
def server() -> Iterator[EmulatorServer]:
    covered = sample_cache("covered-cache")
    covered["scheduledQueryRules"] = deployed()
    with running_emulator([covered]) as srv:
        yield srv


def test_the_deployed_alert_rules_satisfy_auth_alerts(server: EmulatorServer) -> None:
    gateway = Gateway(server.arm_endpoint, ManagedIdentityCredential(), timeout=10, polling_interval=0.0)
    snap = gateway.read(parse_cache_id(cache_id("covered-cache")), frozenset({"log_alert_rules"}))
    assert snap.log_alert_rules is not None and len(snap.log_alert_rules) == 2
    rule = rule_by_id("auth-alerts")
    assert rule.evaluate(snap, RuleContext(params={"workspaceId": WS})).status.value == "compliant"
    other = WS.replace("/law", "/elsewhere")
    assert rule.evaluate(snap, RuleContext(params={"workspaceId": other})).status.value == "non_compliant"
    lists = [r for r in server.requests() if "scheduledqueryrules" in r["path"].lower()]
    assert [r["method"] for r in lists] == ["GET"]
