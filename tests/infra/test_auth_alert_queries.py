"""The authentication-anomaly queries infra/ deploys, evaluated over rows shaped like the documented tables.

The query text comes from the Bicep module itself: its `detections` variable is read with pycep and the
`replace(loadTextContent(...), placeholder, string(param))` expressions are evaluated here, so what is tested
is what `azd up` would deploy. The evaluator (tests/infra/kql.py) covers only the operators the queries
use and refuses anything else. Evidence: the table schemas are Microsoft's (log_schemas.py); no Log
Analytics workspace can run these offline, so Kusto's own behaviour is modelled, not observed.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from remediators.detections import DETECTION_TAG, DETECTIONS
from tests.infra import bicep

from .kql import KqlUnsupported, run
from .log_schemas import SCHEMAS, row

MODULE = "modules/auth-alerts.bicep"
CACHE1 = "/SUBSCRIPTIONS/S/RESOURCEGROUPS/RG/PROVIDERS/MICROSOFT.CACHE/REDIS/CACHE1"
AMR1 = "/SUBSCRIPTIONS/S/RESOURCEGROUPS/RG/PROVIDERS/MICROSOFT.CACHE/REDISENTERPRISE/AMR1/DATABASES/DEFAULT"


def _eval(node: Any, params: dict[str, Any], module_dir: Path) -> Any:
    """Evaluate the few Bicep expressions the module's queries are built from."""
    if isinstance(node, str):
        return params.get(node, node)
    fn = node["function"]
    args = fn["parameters"]
    if fn["type"] == "replace":
        return _eval(args["original_string"], params, module_dir).replace(
            _eval(args["old_string"], {}, module_dir), _eval(args["new_string"], params, module_dir))
    if fn["type"] == "load_text_content":
        return (module_dir / args["file_path"]).read_text(encoding="utf-8")
    raise AssertionError(f"unexpected Bicep function {fn['type']}")


def deployed_queries(threshold: int = 10, ranges: list[str] | None = None) -> dict[str, str]:
    """detection id -> query text, for the module's parameters, as Bicep would compute them."""
    doc = bicep.parsed(MODULE)
    ranges = ranges or []
    params = {"threshold": str(threshold), "ranges": json.dumps(ranges)}
    out = {}
    for item in doc["variables"]["detections"]["value"]:
        if item["needsRanges"] and not ranges:
            continue  # `deployed` filters these out (checked in test_bicep_wiring)
        out[item["id"]] = _eval(item["query"], params, bicep.INFRA / "modules")
    return out


def alert(detection: str, rows: list[dict[str, Any]], **kw: Any) -> list[dict[str, Any]]:
    query = deployed_queries(**kw)[detection]
    by_table: dict[str, list[dict[str, Any]]] = {}
    for r in rows:
        by_table.setdefault(str(r["Type"]), []).append(r)
    return run(query, by_table, SCHEMAS)


def test_the_module_deploys_exactly_the_catalogued_detections_with_their_tag() -> None:
    doc = bicep.parsed(MODULE)
    items = doc["variables"]["detections"]["value"]
    assert [(i["id"], i["needsRanges"]) for i in items] == [(d.id, d.needs_allowed_ranges) for d in DETECTIONS]
    for item, d in zip(items, DETECTIONS, strict=True):
        path = item["query"]["function"]["parameters"]["original_string"]["function"]["parameters"]["file_path"]
        assert path == "../" + d.query_file
        assert (bicep.INFRA / d.query_file).read_text().split("\n| ")[0].splitlines()[-1] == d.table
    text = (bicep.INFRA / MODULE).read_text()
    assert f"'{DETECTION_TAG}': d.id" in text
    assert "filter(detections, d => !d.needsRanges || !empty(allowedClientRanges))" in text
    main = (bicep.INFRA / "main.bicep").read_text()
    assert "workspaceId: workspaceForCacheLogs" in main.split("module authAlerts")[1].split("}")[0]


def test_acr_failed_entra_auth_above_the_threshold_alerts_per_cache_and_user() -> None:
    def entra(user: str, result: str) -> dict[str, Any]:
        return row("ACREntraAuthenticationAuditLog", _ResourceId=CACHE1, Username=user, Authentication=result)

    rows = [entra("oid-a", "Failure")] * 11 + [entra("oid-b", "Failure")] * 10 + [entra("oid-c", "success")] * 50
    assert alert("acr-failed-entra-auth", rows) == [{"_ResourceId": CACHE1, "Username": "oid-a", "Failures": 11}]
    assert {r["Username"] for r in alert("acr-failed-entra-auth", rows, threshold=5)} == {"oid-a", "oid-b"}


def test_an_undocumented_failure_word_still_counts_as_a_failure() -> None:
    rows = [row("ACREntraAuthenticationAuditLog", _ResourceId=CACHE1, Username="x", Authentication="TokenExpired")] * 3
    assert alert("acr-failed-entra-auth", rows, threshold=2)


def test_acr_clients_outside_the_allowed_ranges_alert_and_non_ipv4_is_not_dropped() -> None:
    ranges = ["10.0.0.0/8", "203.0.113.7"]
    rows = [row("ACRConnectedClientList", _ResourceId=CACHE1, ClientIp="10.1.2.3", ClientCount=4),
            row("ACRConnectedClientList", _ResourceId=CACHE1, ClientIp="203.0.113.7", ClientCount=1),
            row("ACRConnectedClientList", _ResourceId=CACHE1, ClientIp="198.51.100.9", ClientCount=2),
            row("ACRConnectedClientList", _ResourceId=CACHE1, ClientIp="198.51.100.9", ClientCount=2),
            row("ACRConnectedClientList", _ResourceId=CACHE1, ClientIp="2001:db8::1", ClientCount=1)]
    got = {r["ClientIp"]: r["Connections"] for r in alert("acr-unexpected-client", rows, ranges=ranges)}
    assert got == {"198.51.100.9": 2, "2001:db8::1": 1}


def test_amr_failed_auth_counts_auth_events_that_are_not_authentication_ok() -> None:
    def event(ip: str, kind: str, status: int | None) -> dict[str, Any]:
        return row("REDConnectionEvents", _ResourceId=AMR1, ClientIp=ip, EventType=kind, EventStatus=status)

    rows = ([event("198.51.100.1", "auth", 0)] * 11 + [event("10.0.0.5", "auth", 8)] * 40
            + [event("10.0.0.5", "new_conn", None)] * 40)
    assert alert("amr-failed-auth", rows) == [{"_ResourceId": AMR1, "ClientIp": "198.51.100.1", "Failures": 11}]


def test_amr_new_connections_outside_the_allowed_ranges_alert() -> None:
    rows = [row("REDConnectionEvents", _ResourceId=AMR1, ClientIp="10.9.9.9", EventType="new_conn"),
            row("REDConnectionEvents", _ResourceId=AMR1, ClientIp="192.0.2.44", EventType="new_conn"),
            row("REDConnectionEvents", _ResourceId=AMR1, ClientIp="192.0.2.45", EventType="close_conn")]
    got = alert("amr-unexpected-client", rows, ranges=["10.0.0.0/8"])
    assert got == [{"_ResourceId": AMR1, "ClientIp": "192.0.2.44", "Connections": 1}]


def test_without_allowed_ranges_the_unexpected_client_queries_are_not_deployed() -> None:
    assert set(deployed_queries()) == {"acr-failed-entra-auth", "amr-failed-auth"}


@pytest.mark.parametrize("query, message", [
    ("REDConnectionEvents | where EventTyp == 'auth'", "EventTyp"),
    ("REDConnectionEvents | where EventType has 'auth'", "has"),
    ("REDConnectionEvents | take 10", "take"),
    ("REDConnectionEvents | where tolower(EventType) == 'auth'", "tolower"),
    ("NoSuchTable | where x == 1", "NoSuchTable"),
])
def test_the_evaluator_refuses_what_it_does_not_model(query: str, message: str) -> None:
    with pytest.raises(KqlUnsupported, match=message):
        run(query, {}, SCHEMAS)


def test_sample_rows_refuse_undocumented_columns() -> None:
    with pytest.raises(KeyError):
        row("REDConnectionEvents", EventStatusCode=0)

# ---------------------------------------------------------------------------------------------- the rule

from remediators.models import CacheSnapshot, LogAlertRule, ManualFix, Status  # noqa: E402
from remediators.resource_ids import parse_cache_id  # noqa: E402
from remediators.rules import rule_by_id  # noqa: E402
from remediators.rules.base import RuleContext  # noqa: E402

SUB = "11111111-2222-3333-4444-555555555555"
WS = f"/subscriptions/{SUB}/resourceGroups/rg-ops/providers/Microsoft.OperationalInsights/workspaces/ws1"
ACR_ID = f"/subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.Cache/Redis/cache1"
AMR_ID = f"/subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.Cache/redisEnterprise/amr1"


def deployed_rules(ranges: list[str] | None = None, **overrides: Any) -> tuple[LogAlertRule, ...]:
    """What the module deploys, as the gateway would read it back."""
    return tuple(
        LogAlertRule(id=f"/x/alert-warden-{d}", scopes=(overrides.get("scope", WS.upper()),),
                     enabled=overrides.get("enabled", True), tags={"Warden-Detection": d}, queries=(q,))
        for d, q in deployed_queries(ranges=ranges).items()
    )


def judge(cache_id: str, rules: tuple[LogAlertRule, ...] | None, **params: Any):
    snap = CacheSnapshot(cache_id=parse_cache_id(cache_id), resource={"id": cache_id, "properties": {}},
                         log_alert_rules=rules)
    return rule_by_id("auth-alerts").evaluate(snap, RuleContext(params={"workspaceId": WS, **params}))


@pytest.mark.parametrize("cache_id", [ACR_ID, AMR_ID])
def test_what_infra_deploys_satisfies_the_rule(cache_id: str) -> None:
    assert judge(cache_id, deployed_rules()).status is Status.COMPLIANT
    both = deployed_rules(ranges=["10.0.0.0/8"])
    assert judge(cache_id, both, expectUnexpectedClientAlerts=True).status is Status.COMPLIANT
    v = judge(cache_id, deployed_rules(), expectUnexpectedClientAlerts=True)
    assert v.status is Status.NON_COMPLIANT and "unexpected-client" in v.reason


@pytest.mark.parametrize("overrides", [{"enabled": False}, {"scope": WS.replace("ws1", "other")}])
def test_disabled_or_elsewhere_alerts_do_not_count(overrides: dict[str, Any]) -> None:
    v = judge(ACR_ID, deployed_rules(**overrides))
    assert v.status is Status.NON_COMPLIANT and isinstance(v.remediation, ManualFix)
    assert "acr-failed-entra-auth" in v.reason


def test_a_tag_on_a_query_over_another_table_does_not_count() -> None:
    fake = (LogAlertRule("/x/y", (WS,), True, {"warden-detection": "acr-failed-entra-auth"}, ("AzureActivity",)),)
    assert judge(ACR_ID, fake).status is Status.NON_COMPLIANT


def test_unread_skipped_and_unconfigured() -> None:
    assert judge(ACR_ID, None).status is Status.UNKNOWN
    snap = CacheSnapshot(cache_id=parse_cache_id(ACR_ID), resource={}, skipped_inputs=frozenset({"log_alert_rules"}))
    assert rule_by_id("auth-alerts").evaluate(snap, RuleContext()).status is Status.NOT_APPLICABLE
    assert judge(ACR_ID, (), workspaceId="").status is Status.NON_COMPLIANT
