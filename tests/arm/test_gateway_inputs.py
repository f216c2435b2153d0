"""The inputs issue 4's rules need, read by the real gateway over HTTPS from the emulator: linked servers with
their locations, private DNS zone groups of approved private endpoints, metric alert rules scoped to the
cache, and the metric alert PUT. Assertions are on the snapshot, on ARM's state and on the request log."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from azure.identity import ManagedIdentityCredential

from emulator.principals import SUBSCRIPTION_ID
from emulator.server import EmulatorServer
from emulator.testing import cache_id, running_emulator, sample_cache
from remediators.arm.gateway import Gateway
from remediators.baseline import load_baseline
from remediators.models import PutMetricAlert
from remediators.planning.planner import plan
from remediators.resource_ids import parse_cache_id

PE_NET = f"/subscriptions/{SUBSCRIPTION_ID}/resourceGroups/rg-net/providers/Microsoft.Network/privateEndpoints"
ACTION_GROUP = (f"/subscriptions/{SUBSCRIPTION_ID}/resourceGroups/rg-ops/providers/microsoft.insights/"
                "actionGroups/oncall")
ALL = frozenset({"firewall_rules", "linked_servers", "private_dns_zone_groups", "metric_alerts"})


def _pe_connection(cache: str, name: str, status: str) -> dict[str, Any]:
    return {"id": cache_id(cache) + f"/privateEndpointConnections/{name}",
            "properties": {"privateEndpoint": {"id": f"{PE_NET}/{name}"},
                           "privateLinkServiceConnectionState": {"status": status},
                           "provisioningState": "Succeeded"}}


def _alert(name: str, scope: str, metrics: list[str], group: str = ACTION_GROUP) -> dict[str, Any]:
    return {"name": name, "location": "global", "properties": {
        "severity": 3, "enabled": True, "scopes": [scope], "evaluationFrequency": "PT5M", "windowSize": "PT15M",
        "criteria": {"odata.type": "Microsoft.Azure.Monitor.SingleResourceMultipleMetricCriteria",
                     "allOf": [{"criterionType": "StaticThresholdCriterion", "name": m, "metricName": m,
                                "operator": "GreaterThan", "threshold": 1, "timeAggregation": "Maximum"}
                               for m in metrics]},
        "actions": [{"actionGroupId": group}]}}


def fleet() -> list[dict[str, Any]]:
    geo = sample_cache("geo-cache")
    geo["linkedServers"] = [
        {"name": "geo-west", "properties": {"linkedRedisCacheId": cache_id("geo-west"),
                                            "linkedRedisCacheLocation": "West Europe", "serverRole": "Secondary"}},
    ]
    private = sample_cache("private-cache", properties={"privateEndpointConnections": [
        _pe_connection("private-cache", "pe-dns", "Approved"),
        _pe_connection("private-cache", "pe-nodns", "Approved"),
        _pe_connection("private-cache", "pe-pending", "Pending"),
    ]})
    private["privateDnsZoneGroups"] = [{
        "id": f"{PE_NET}/pe-dns/privateDnsZoneGroups/default",
        "properties": {"privateDnsZoneConfigs": [{"name": "privatelink-redis-cache-windows-net", "properties": {
            "privateDnsZoneId": f"/subscriptions/{SUBSCRIPTION_ID}/resourceGroups/rg-net/providers/"
                                "Microsoft.Network/privateDnsZones/privatelink.redis.cache.windows.net"}}]}}]
    watched = sample_cache("watched-cache", firewall_rules=[("office", "81.2.69.0", "81.2.69.255")])
    watched["metricAlerts"] = [
        _alert("load", cache_id("watched-cache"), ["serverLoad"]),
        _alert("other-cache-latency", cache_id("geo-cache"), ["cacheLatency"]),
    ]
    return [geo, private, watched, sample_cache("geo-west", location="West Europe")]


@pytest.fixture
def server() -> Iterator[EmulatorServer]:
    with running_emulator(fleet()) as s:
        yield s


@pytest.fixture
def gateway(server: EmulatorServer) -> Gateway:
    return Gateway(server.arm_endpoint, ManagedIdentityCredential(), timeout=10, lro_wait_seconds=5,
                   polling_interval=0.0)


def _calls(server: EmulatorServer, fragment: str) -> list[dict[str, Any]]:
    return [r for r in server.requests() if fragment in r["path"].lower()]


def test_linked_servers_come_from_the_list_api_with_their_locations(server: EmulatorServer, gateway: Gateway) -> None:
    snap = gateway.read(parse_cache_id(cache_id("geo-cache")), ALL)
    assert snap.properties["linkedServers"] == [{"id": cache_id("geo-cache") + "/linkedServers/geo-west"}]
    assert [(ls["name"], ls["properties"]["linkedRedisCacheLocation"]) for ls in snap.linked_servers] == [
        ("geo-west", "West Europe")]
    findings = {f.rule: f for f in load_baseline(None).evaluate(snap, now=datetime.now(UTC))}
    assert findings["data-residency"].status == "non_compliant"
    assert "West Europe" in findings["data-residency"].reason


def test_a_body_without_linked_servers_costs_no_list_call(server: EmulatorServer, gateway: Gateway) -> None:
    snap = gateway.read(parse_cache_id(cache_id("watched-cache")), ALL)
    assert snap.linked_servers == ()
    assert not _calls(server, "/linkedservers")


def test_dns_zone_groups_are_read_for_approved_private_endpoints_only(server: EmulatorServer,
                                                                     gateway: Gateway) -> None:
    snap = gateway.read(parse_cache_id(cache_id("private-cache")), ALL)
    by_name = {c.private_endpoint_id.rsplit("/", 1)[-1]: c.private_dns_zone_groups
               for c in snap.private_endpoint_connections}
    assert by_name == {"pe-dns": ("default",), "pe-nodns": (), "pe-pending": None}
    calls = _calls(server, "/privatednszonegroups")
    assert sorted(c["path"].split("/")[-2] for c in calls) == ["pe-dns", "pe-nodns"]
    assert {c["api_version"] for c in calls} == {"2023-09-01"}


def test_dns_zone_groups_are_not_read_unless_needed(server: EmulatorServer, gateway: Gateway) -> None:
    snap = gateway.read(parse_cache_id(cache_id("private-cache")), frozenset({"firewall_rules"}))
    assert all(c.private_dns_zone_groups is None for c in snap.private_endpoint_connections)
    assert not _calls(server, "/privatednszonegroups")


def test_metric_alerts_scoped_to_the_cache_are_read(server: EmulatorServer, gateway: Gateway) -> None:
    snap = gateway.read(parse_cache_id(cache_id("watched-cache")), ALL)
    assert [(a.id.rsplit("/", 1)[-1], a.metrics, a.action_group_ids) for a in snap.metric_alerts] == [
        ("load", ("serverLoad",), (ACTION_GROUP,))]
    without = gateway.read(parse_cache_id(cache_id("watched-cache")), frozenset({"firewall_rules"}))
    assert without.metric_alerts is None


def test_missing_alerts_are_created_and_then_count_as_coverage(server: EmulatorServer, gateway: Gateway) -> None:
    cache = parse_cache_id(cache_id("watched-cache"))
    baseline = load_baseline(json.dumps({"version": 1, "rules": {"metric-alerts": {
        "effect": "remediate",
        "parameters": {"actionGroupId": ACTION_GROUP, "thresholds": {"cacheRead": 5e8, "cacheWrite": 5e8}}}}}))
    snap = gateway.read(cache, ALL)
    steps = [s for s in plan(baseline.evaluate(snap, now=datetime.now(UTC)), snap).steps
             if isinstance(s, PutMetricAlert)]
    assert sorted(s.metric for s in steps) == ["cacheLatency", "cacheRead", "cacheWrite"]
    for step in steps:
        assert gateway.apply(cache, step).done
    puts = [r for r in _calls(server, "/metricalerts/") if r["method"] == "PUT"]
    assert [r["status"] for r in puts] == [200, 200, 200]
    body = puts[0]["body"]
    assert body["properties"]["scopes"] == [cache.arm_id]
    assert body["properties"]["actions"] == [{"actionGroupId": ACTION_GROUP}]
    assert set(body) == {"location", "properties"}
    after = gateway.read(cache, ALL)
    verdict = {f.rule: f for f in baseline.evaluate(after, now=datetime.now(UTC))}["metric-alerts"]
    assert verdict.status == "compliant", verdict.reason


def test_metric_alerts_are_in_the_declared_rbac_actions() -> None:
    assert {"Microsoft.Insights/metricAlerts/read", "Microsoft.Insights/metricAlerts/write",
            "Microsoft.Cache/redis/linkedServers/read",
            "Microsoft.Network/privateEndpoints/privateDnsZoneGroups/read"} <= Gateway.ACTIONS
