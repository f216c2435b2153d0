"""The emulator surfaces issue 4 added: linked servers, private DNS zone groups, metric alert rules, the
ConfiguringAAD knob and the refusals of each (rows of the "ARM rejects X" table), checked over raw HTTPS."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

import pytest

from emulator.fleet import FleetError, load_fleet
from emulator.principals import JANE, SUBSCRIPTION_ID
from emulator.server import EmulatorServer
from emulator.testing import RawArm, cache_id, running_emulator, sample_cache

PE = f"/subscriptions/{SUBSCRIPTION_ID}/resourceGroups/rg-net/providers/Microsoft.Network/privateEndpoints/pe1"
ALERTS = f"/subscriptions/{SUBSCRIPTION_ID}/resourceGroups/rg-payments/providers/Microsoft.Insights/metricAlerts"
GROUP = f"/subscriptions/{SUBSCRIPTION_ID}/resourceGroups/rg-ops/providers/microsoft.insights/actionGroups/ops"


def _fleet() -> list[dict[str, Any]]:
    linked = sample_cache("geo-cache")
    linked["linkedServers"] = [{"name": "geo-2", "properties": {
        "linkedRedisCacheId": cache_id("geo-2"), "linkedRedisCacheLocation": "UK West", "serverRole": "Secondary"}}]
    private = sample_cache("private-cache", properties={"privateEndpointConnections": [{
        "id": cache_id("private-cache") + "/privateEndpointConnections/pe1",
        "properties": {"privateEndpoint": {"id": PE}, "privateLinkServiceConnectionState": {"status": "Approved"}}}]})
    private["privateDnsZoneGroups"] = [{"id": PE + "/privateDnsZoneGroups/default", "properties": {}}]
    return [
        linked,
        private,
        sample_cache("aad-cache", knobs={"configuringAadForGets": 2}),
    ]


@pytest.fixture
def server() -> Iterator[EmulatorServer]:
    with running_emulator(_fleet()) as s:
        yield s


@pytest.fixture
def arm(server: EmulatorServer) -> RawArm:
    return RawArm(server)


def alert_body(metric: str = "serverLoad", **props: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"location": "global", "properties": {
        "severity": 3, "enabled": True, "scopes": [cache_id("geo-cache")], "evaluationFrequency": "PT5M",
        "windowSize": "PT15M",
        "criteria": {"odata.type": "Microsoft.Azure.Monitor.SingleResourceMultipleMetricCriteria",
                     "allOf": [{"criterionType": "StaticThresholdCriterion", "name": "c1", "metricName": metric,
                                "operator": "GreaterThan", "threshold": 80, "timeAggregation": "Maximum"}]},
        "actions": [{"actionGroupId": GROUP}]}}
    body["properties"].update(props)
    return body


# ---------------------------------------------------------------------------------------------- linked servers


def test_linked_servers_list_and_the_body_ids_agree(arm: RawArm) -> None:
    listed = arm.request("GET", cache_id("geo-cache") + "/linkedServers")
    assert listed.status_code == 200
    [item] = listed.json()["value"]
    assert (item["name"], item["properties"]["linkedRedisCacheLocation"]) == ("geo-2", "UK West")
    body = arm.request("GET", cache_id("geo-cache")).json()
    assert body["properties"]["linkedServers"] == [{"id": item["id"]}]


# ---------------------------------------------------------------------------------------------- DNS zone groups


def test_dns_zone_groups_of_a_known_private_endpoint(arm: RawArm) -> None:
    resp = arm.request("GET", PE + "/privateDnsZoneGroups", api_version="2023-09-01")
    assert resp.status_code == 200
    assert [g["name"] for g in resp.json()["value"]] == ["default"]


def test_dns_zone_groups_of_an_unknown_private_endpoint_is_404(arm: RawArm) -> None:
    resp = arm.request("GET", PE.replace("pe1", "gone") + "/privateDnsZoneGroups", api_version="2023-09-01")
    assert resp.status_code == 404
    assert resp.json()["error"]["code"] == "ResourceNotFound"


def test_dns_zone_groups_with_the_redis_api_version_is_refused(arm: RawArm) -> None:
    resp = arm.request("GET", PE + "/privateDnsZoneGroups")
    assert resp.status_code == 400
    assert resp.json()["error"]["code"] == "NoRegisteredProviderFound"


# ---------------------------------------------------------------------------------------------- metric alerts


def test_metric_alert_put_get_list_delete(arm: RawArm, server: EmulatorServer) -> None:
    arm = RawArm(arm.server, JANE, api_version=arm.api_version)  # an Owner: the warden's role has no deletes/PE reads
    put = arm.request("PUT", ALERTS + "/load", api_version="2018-03-01", body=alert_body())
    assert put.status_code == 200, put.text
    assert put.json()["id"].endswith("/metricAlerts/load")
    assert arm.request("GET", ALERTS + "/LOAD", api_version="2018-03-01").status_code == 200
    listed = arm.request("GET", ALERTS, api_version="2018-03-01").json()["value"]
    assert [a["name"] for a in listed] == ["load"]
    assert not server.events(), "alert rules are not Cache resources: no Event Grid event"
    assert arm.request("DELETE", ALERTS + "/load", api_version="2018-03-01").status_code == 200
    missing = arm.request("GET", ALERTS + "/load", api_version="2018-03-01")
    assert missing.status_code == 404 and missing.json()["code"] == "ResourceNotFound"


@pytest.mark.parametrize(
    ("mutate", "fragment"),
    [
        (lambda b: b["properties"]["criteria"]["allOf"][0].update(metricName="cpuLoad"),
         "Couldn't find a metric named cpuLoad"),
        (lambda b: b["properties"].update(windowSize="PT7M"), "windowSize 'PT7M' is not supported"),
        (lambda b: b["properties"].update(evaluationFrequency="PT2H"), "evaluationFrequency 'PT2H'"),
        (lambda b: b["properties"].pop("criteria"), "'criteria' is a required property"),
        (lambda b: b["properties"].update(severity=5), "severity"),
        (lambda b: b["properties"].update(colour="red"), "colour"),
        (lambda b: b["properties"]["criteria"]["allOf"][0].pop("threshold"), "'threshold' is a required property"),
        (lambda b: b["properties"]["criteria"]["allOf"][0].update(operator="Above"), "operator"),
        (lambda b: b["properties"].update(scopes=[cache_id("geo-cache"), cache_id("private-cache")]),
         "exactly one scope"),
        (lambda b: b["properties"].update(scopes=[cache_id("nowhere")]), "was not found"),
    ],
    ids=["unknown-metric", "window", "frequency", "no-criteria", "severity", "unknown-property", "no-threshold",
         "operator", "two-scopes-single-resource", "unknown-scope"],
)
def test_metric_alert_refusals(arm: RawArm, mutate: Any, fragment: str) -> None:
    body = alert_body()
    mutate(body)
    resp = arm.request("PUT", ALERTS + "/bad", api_version="2018-03-01", body=body)
    assert resp.status_code == 400, resp.text
    error = resp.json()
    assert error["code"] == "BadRequest" and "error" not in error  # Azure Monitor: no ARM envelope
    assert fragment in error["message"]
    assert arm.request("GET", ALERTS + "/bad", api_version="2018-03-01").status_code == 404


def test_metric_alert_read_only_fields_are_ignored(arm: RawArm) -> None:
    body = alert_body(lastUpdatedTime="2020-01-01T00:00:00Z")
    body["id"] = "/somewhere/else"
    resp = arm.request("PUT", ALERTS + "/ro", api_version="2018-03-01", body=body)
    assert resp.status_code == 200, resp.text
    assert resp.json()["id"].endswith("/metricAlerts/ro")
    assert "lastUpdatedTime" not in resp.json()["properties"]


# ---------------------------------------------------------------------------------------------- Entra


def test_disabling_access_keys_before_entra_is_refused(arm: RawArm) -> None:
    resp = arm.request("PATCH", cache_id("geo-cache"), body={"properties": {"disableAccessKeyAuthentication": True}})
    assert resp.status_code == 400
    assert resp.json()["error"]["target"] == "properties.disableAccessKeyAuthentication"
    both = arm.request("PATCH", cache_id("geo-cache"), body={"properties": {
        "disableAccessKeyAuthentication": True, "redisConfiguration": {"aad-enabled": "true"}}})
    assert both.status_code == 400, "Entra must already be on: the two cannot share one PATCH"


def test_enabling_entra_shows_configuring_aad_then_succeeded(arm: RawArm, server: EmulatorServer) -> None:
    resp = arm.request("PATCH", cache_id("aad-cache"), body={"properties": {"redisConfiguration": {
        "aad-enabled": "true"}}})
    assert resp.status_code in (200, 202)
    states = [arm.request("GET", cache_id("aad-cache")).json()["properties"]["provisioningState"] for _ in range(5)]
    assert "ConfiguringAAD" in states and states[-1] == "Succeeded"
    assert states.count("ConfiguringAAD") == 2
    busy_at = states.index("ConfiguringAAD")
    assert all(s != "Succeeded" for s in states[: busy_at + 1])
    later = arm.request("PATCH", cache_id("aad-cache"), body={"properties": {"disableAccessKeyAuthentication": True}})
    assert later.status_code in (200, 202), later.text


def test_patch_while_configuring_aad_is_busy(arm: RawArm) -> None:
    arm.request("PATCH", cache_id("aad-cache"), body={"properties": {"redisConfiguration": {"aad-enabled": "true"}}})
    seen = [arm.request("GET", cache_id("aad-cache")).json()["properties"]["provisioningState"] for _ in range(1)]
    assert "ConfiguringAAD" in seen  # the operation finishes after one poll; then ConfiguringAAD follows
    resp = arm.request("PATCH", cache_id("aad-cache"), body={"properties": {"enableNonSslPort": False}})
    assert resp.status_code == 409 and resp.json()["error"]["code"] == "Conflict"


# ---------------------------------------------------------------------------------------------- fleet


def test_fleet_refuses_unknown_keys_in_the_new_children() -> None:
    entry = _fleet()[0]
    bad = copy.deepcopy(entry)
    bad["linkedServers"][0]["colour"] = "red"
    with pytest.raises(FleetError, match="colour"):
        load_fleet([bad])
    bad = copy.deepcopy(_fleet()[1])
    bad["privateDnsZoneGroups"][0]["id"] = "/not/a/zone/group"
    with pytest.raises(FleetError, match="privateDnsZoneGroups"):
        load_fleet([bad])
    seeds = load_fleet([entry])
    assert seeds[0].linked_servers and "linkedServers" not in {k for k in seeds[0].body if k != "properties"}
