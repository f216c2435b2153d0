"""The emulator's Azure Resource Graph answers as the recorded ARG traffic does (fixtures/SOURCES.md), asked
through the real `ResourceGraphClient` (azure-mgmt-resourcegraph) over HTTPS.

The recorded queries (`project id`, a `ResourceContainers` query) are outside the KQL subset the emulator
understands, so the warden's own query is sent with the recorded scopes and options; what is compared is the
answer's contract: the same keys and JSON types, `resultTruncated` the string "false", `facets: []`, the skip
token's shape and arithmetic, lower-cased types, and the quota headers with their formats.
"""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path
from typing import Any

from azure.mgmt.resourcegraph import ResourceGraphClient
from azure.mgmt.resourcegraph.models import QueryRequest, QueryRequestOptions

from emulator.principals import SUBSCRIPTION_ID, TENANT_ID
from emulator.testing import EmulatorCredential, running_emulator, sample_cache
from remediators.arm.graph import QUERY

from .test_recorded_traffic import assert_same_shape

FIXTURES = Path(__file__).with_name("fixtures")
QUOTA_HEADERS = ("x-ms-user-quota-remaining", "x-ms-user-quota-resets-after",
                 "x-ms-ratelimit-remaining-tenant-resource-requests")


def _load(name: str) -> dict[str, Any]:
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


def _raw(response: Any, _model: Any, _headers: Any) -> tuple[dict[str, Any], Any, str]:
    http = response.http_response
    return json.loads(http.text()), http.headers, http.request.url


def _client(server: Any) -> ResourceGraphClient:
    return ResourceGraphClient(EmulatorCredential(server), base_url=server.arm_endpoint,
                               connection_verify=server.ca_bundle)


def _assert_quota_headers(recorded: dict[str, str], headers: Any) -> None:
    for name in QUOTA_HEADERS:
        assert name in headers, f"no {name} header (ARG sends one on every answer)"
        assert headers[name].isdigit() == recorded[name].isdigit(), name
    assert re.fullmatch(r"\d\d:\d\d:\d\d", headers["x-ms-user-quota-resets-after"])
    assert headers["content-type"].split(";")[0] == recorded["content-type"].split(";")[0]


def _token(value: str) -> dict[str, Any]:
    return json.loads(base64.b64decode(value))


def test_skip_token_page_is_the_recorded_contract() -> None:
    fixture = _load("resource_graph_skip_token.json")
    recorded, sent = fixture["response"], fixture["request"]
    fleet = [sample_cache(f"arg-{i:02d}") for i in range(12)]
    with running_emulator(fleet) as server:
        client = _client(server)
        options = sent["body"]["options"]
        body, headers, url = client.resources(QueryRequest(
            subscriptions=[SUBSCRIPTION_ID], query=QUERY,
            options=QueryRequestOptions(skip_token=options["$skipToken"], result_format=options["resultFormat"],
                                        allow_partial_scopes=options["allowPartialScopes"])), cls=_raw)
    assert url.endswith(f"{sent['path']}?api-version={sent['api-version']}")  # the SDK sends what was recorded
    assert set(body) == set(recorded["body"])
    for key in ("totalRecords", "count", "facets", "resultTruncated", "$skipToken"):
        assert_same_shape(recorded["body"][key], body[key], key, values=False)
    assert all(isinstance(r, dict) and isinstance(r["id"], str) for r in body["data"])  # rows (recorded: `project id`)
    assert body["resultTruncated"] == "false" and body["facets"] == []
    # The recorded token says MaxRows 3, RowsToSkip 5; the next one RowsToSkip 8, with the same keys.
    asked, answered = _token(options["$skipToken"]), _token(body["$skipToken"])
    assert set(answered) == set(_token(recorded["body"]["$skipToken"]))
    assert (body["count"], answered["RowsToSkip"]) == (asked["MaxRows"], asked["RowsToSkip"] + asked["MaxRows"])
    assert [r["name"] for r in body["data"]] == ["arg-05", "arg-06", "arg-07"] and body["totalRecords"] == 12
    _assert_quota_headers(recorded["headers"], headers)


def test_management_group_query_is_the_recorded_contract() -> None:
    fixture = _load("resource_graph_management_groups.json")
    recorded, sent = fixture["response"], fixture["request"]
    groups = sent["body"]["managementGroups"]  # [<tenant id>, "AzGovTest5"]
    fleet = [sample_cache("arg-mg-1"), sample_cache("arg-mg-2")]
    with running_emulator(fleet, management_groups={groups[1]: [SUBSCRIPTION_ID]}) as server:
        client = _client(server)
        options = sent["body"]["options"]
        body, headers, _url = client.resources(QueryRequest(
            management_groups=[TENANT_ID, groups[1]], query=QUERY,
            options=QueryRequestOptions(top=options["$top"], skip=options["$skip"],
                                        result_format=options["resultFormat"],
                                        allow_partial_scopes=options["allowPartialScopes"])), cls=_raw)
    assert set(body) == set(recorded["body"])  # the last page: no $skipToken
    for key in ("totalRecords", "count", "facets", "resultTruncated"):
        assert_same_shape(recorded["body"][key], body[key], key, values=key in ("facets", "resultTruncated"))
    assert (body["totalRecords"], body["count"]) == (2, 2)
    assert all(r["type"] == r["type"].lower() for r in body["data"])  # ARG's rows carry lower-cased types
    _assert_quota_headers(recorded["headers"], headers)
