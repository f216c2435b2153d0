"""infra/modules/audit-logs.bicep: the typed audit table, its DCE/DCR, the one role, and the Workbook.

Static only (no Bicep compiler can be installed here): pycep reads the templates; the Workbook's JSON is
validated against the Workbooks schema vendored in reference/workbooks (microsoft/Application-Insights-
Workbooks, schema/workbook.json)."""

from __future__ import annotations

import json
import re
from typing import Any

import jsonschema

from emulator.spec import REFERENCE_ROOT
from remediators.audit.log_ingestion import COLUMN_TYPES, STREAM, TABLE

from . import bicep

FILE = "modules/audit-logs.bicep"
WORKBOOK = bicep.INFRA / "workbook" / "redis-warden.workbook.json"
METRICS_PUBLISHER = "3913510d-42f4-4e42-8a64-420c390055eb"


def _workbook() -> dict[str, Any]:
    return json.loads(WORKBOOK.read_text(encoding="utf-8"))


def _queries(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for item in items:
        if item.get("type") == 3:
            out.append(item)
        if item.get("type") == 12:
            out += _queries(item["content"].get("items", []))
    return out


def test_table_keeps_rows_as_long_as_the_trail() -> None:
    table = bicep.one("Microsoft.OperationalInsights/workspaces/tables", FILE)
    props = table.config["properties"]
    assert table.config["name"] == TABLE and props["plan"] == "Analytics"
    assert "auditRetentionDays" in json.dumps(props["totalRetentionInDays"])
    assert "min" in json.dumps(props["retentionInDays"]) and "730" in json.dumps(props["retentionInDays"])
    cfg = bicep.module_config("main.bicep", "auditLogs")
    assert "auditRetentionDays" in json.dumps(cfg["params"]["auditRetentionDays"])  # the storage WORM period


def test_the_rule_sends_the_stream_into_the_table() -> None:
    rule = bicep.one("Microsoft.Insights/dataCollectionRules", FILE)
    props = rule.config["properties"]
    assert [k.strip("'") for k in props["streamDeclarations"]] == [STREAM]  # pycep keeps a quoted key's quotes
    [flow] = props["dataFlows"]
    assert flow["streams"] == [STREAM] and flow["outputStream"] == f"Custom-{TABLE}"
    assert flow["transformKql"] == "source"
    assert [d["name"] for d in props["destinations"]["logAnalytics"]] == flow["destinations"]
    assert "ingestionEndpoint" in json.dumps(props["dataCollectionEndpointId"])


def test_the_app_may_send_to_this_rule_only() -> None:
    role = bicep.one("Microsoft.Authorization/roleAssignments", FILE)
    assert METRICS_PUBLISHER in json.dumps(role.config["properties"]["roleDefinitionId"]) or \
        "metricsPublisherRole" in json.dumps(role.config["properties"]["roleDefinitionId"])
    assert bicep.variable(FILE, "metricsPublisherRole") == METRICS_PUBLISHER
    assert "auditRule" in json.dumps(role.config["scope"])


def test_the_app_gets_the_endpoint_and_rule_id_as_settings() -> None:
    source = (bicep.INFRA / "modules" / "functionapp.bicep").read_text(encoding="utf-8")
    assert "'WARDEN_LOGS_INGESTION_ENDPOINT'" in source and "'WARDEN_LOGS_DCR_IMMUTABLE_ID'" in source


def test_the_workbook_is_valid_against_the_workbooks_schema() -> None:
    schema = json.loads((REFERENCE_ROOT / "workbooks" / "workbook.schema.json").read_text(encoding="utf-8"))
    jsonschema.Draft7Validator.check_schema(schema)
    jsonschema.validate(_workbook(), schema)
    broken = _workbook()
    broken["items"][2]["content"]["tileSettings"]["leftContent"].pop("formatter")
    assert list(jsonschema.Draft7Validator(schema).iter_errors(broken)), "the schema check can fail"


def test_the_workbook_covers_what_reviewers_ask_and_queries_the_typed_table() -> None:
    queries = _queries(_workbook()["items"])
    names = {q["name"] for q in queries}
    assert {"posture", "drift-over-time", "mttr", "manual-actions", "exemptions"} <= names
    for q in queries:
        content = q["content"]
        assert content["queryType"] == 0 and content["resourceType"] == "microsoft.operationalinsights/workspaces"
        assert content["timeContextFromParameter"] == "TimeRange"
        assert TABLE in content["query"] and "substring(" not in content["query"] and "traces" not in content["query"]
        # every PascalCase name the query reads from the table is a column of it (or an alias it defines)
        defined = set(re.findall(r"\b([A-Z][A-Za-z]+)\s*=", content["query"]))
        used = set(re.findall(r"\b([A-Z][A-Za-z]+)\b", content["query"])) - {TABLE.removesuffix("_CL")}
        unknown = used - set(COLUMN_TYPES) - defined - {"RedisWardenAudit"}
        assert not unknown, f"{q['name']}: {unknown}"


def test_the_workbook_is_deployed_from_this_file_over_the_workspace() -> None:
    book = bicep.one("Microsoft.Insights/workbooks", FILE)
    props = book.config["properties"]
    assert "redis-warden.workbook.json" in json.dumps(props["serializedData"]) and props["category"] == "workbook"
    assert "workspace" in json.dumps(props["sourceId"])
