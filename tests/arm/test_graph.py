"""Enumeration through Azure Resource Graph (remediators/arm/graph.py): the real ResourceGraphClient over HTTPS
against the emulator's ARG (emulator/resource_graph.py, whose answers tests/conformance/test_resource_graph.py
holds to recorded traffic). Quota pacing, paging and RBAC are checked against the emulator only."""

from __future__ import annotations

from typing import Any

import pytest
from azure.identity import ManagedIdentityCredential

from emulator.authorization import GRAPH_READ_ACTION, Authorization
from emulator.principals import SUBSCRIPTION_ID, TENANT_ID
from emulator.resource_graph import UserQuota
from emulator.testing import cache_id, running_emulator, sample_cache
from remediators.arm import graph
from remediators.arm.errors import ArmError
from remediators.arm.gateway import Gateway
from remediators.resource_ids import FleetScope, ManagementGroup, parse_cache_id

OTHER_SUB = "0b7e4a52-3c1d-4f6e-8a9b-1c2d3e4f5a6b"
THIRD_SUB = "9d8c7b6a-5e4f-4a3b-8c2d-1e0f9a8b7c6d"
ALLOWED = frozenset({SUBSCRIPTION_ID, OTHER_SUB})


def _fleet() -> list[dict[str, Any]]:
    return ([sample_cache(f"a-{i}") for i in range(3)] + [sample_cache(f"b-{i}", subscription_id=OTHER_SUB)
                                                         for i in range(2)]
            + [sample_cache("c-0", subscription_id=THIRD_SUB)])


def _gateway(server: Any) -> Gateway:
    gw = Gateway(server.arm_endpoint, ManagedIdentityCredential(), timeout=10, polling_interval=0.0)
    gw.graph.sleep = lambda s: None  # waits are counted, not slept, in these tests
    return gw


def _graph_calls(server: Any) -> list[dict[str, Any]]:
    return [c for c in server.requests() if "resourcegraph" in c["path"].lower()]


def test_one_query_lists_the_caches_of_several_subscriptions(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(graph, "PAGE_ROWS", 2)  # three pages for five rows
    with running_emulator(_fleet()) as server:
        listing = _gateway(server).list_fleet(FleetScope(subscriptions=(SUBSCRIPTION_ID, OTHER_SUB)), ALLOWED)
        calls = _graph_calls(server)
    assert sorted(c.cache.name for c in listing.caches) == ["a-0", "a-1", "a-2", "b-0", "b-1"]
    assert listing.refused == () and listing.pages == 3 and len(calls) == 3
    assert all(c["method"] == "POST" and c["status"] == 200 for c in calls)
    assert not any(c["path"].startswith("/subscriptions/") for c in server.requests())  # no ARM list call


def test_a_management_group_takes_only_allowed_subscriptions() -> None:
    groups = {"mg-payments": [SUBSCRIPTION_ID, OTHER_SUB, THIRD_SUB]}
    with running_emulator(_fleet(), management_groups=groups) as server:
        listing = _gateway(server).list_fleet(FleetScope(management_group=ManagementGroup("mg-payments")), ALLOWED)
        unknown = pytest.raises(ArmError)
        with unknown as exc:
            _gateway(server).list_fleet(FleetScope(management_group=ManagementGroup("mg-nowhere")), ALLOWED)
        root = _gateway(server).list_fleet(FleetScope(management_group=ManagementGroup(TENANT_ID)), ALLOWED)
    assert len(listing.caches) == 5 and listing.refused_count == 1
    assert listing.refused[0].reason == f"subscription {THIRD_SUB} is outside the scan's scope"
    assert exc.value.kind == "invalid" and exc.value.status == 400
    assert len(root.caches) == 5  # the tenant root group holds every subscription


HOSTILE_ROWS = [
    # a path that climbs out of the cache, and one that names a different provider, both "in" scope
    {"id": cache_id("x") + "/../../../../Microsoft.Storage/storageAccounts/s", "type": "microsoft.cache/redis",
     "subscriptionId": SUBSCRIPTION_ID},
    {"id": f"/subscriptions/{SUBSCRIPTION_ID}/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/s",
     "type": "microsoft.cache/redis", "subscriptionId": SUBSCRIPTION_ID},
    # a cache of a subscription the warden may not act in, whose subscriptionId column claims an allowed one
    {"id": cache_id("elsewhere", subscription_id=THIRD_SUB), "type": "microsoft.cache/redis",
     "subscriptionId": SUBSCRIPTION_ID},
    # the same, with the columns agreeing: off scope
    {"id": cache_id("off-scope", subscription_id=THIRD_SUB), "type": "microsoft.cache/redis",
     "subscriptionId": THIRD_SUB.upper(), "resourceGroup": "rg-payments"},
    # look-alike Cyrillic "а" in the name, an encoded slash, an id that is not a string, a type that lies
    {"id": cache_id("p\u0430yments"), "type": "microsoft.cache/redis", "subscriptionId": SUBSCRIPTION_ID},
    {"id": cache_id("a%2F..%2Fb"), "type": "microsoft.cache/redis", "subscriptionId": SUBSCRIPTION_ID},
    {"id": ["/subscriptions/x"], "type": "microsoft.cache/redis", "subscriptionId": SUBSCRIPTION_ID},
    {"id": cache_id("typed"), "type": "microsoft.cache/redisenterprise", "subscriptionId": SUBSCRIPTION_ID},
    {"id": cache_id("grouped"), "type": "microsoft.cache/redis", "subscriptionId": SUBSCRIPTION_ID,
     "resourceGroup": "rg-other"},
    {"id": cache_id("props"), "type": "microsoft.cache/redis", "subscriptionId": SUBSCRIPTION_ID,
     "properties": "enableNonSslPort=true"},
    # a second row for a real cache (a replayed page)
    {"id": cache_id("a-0").upper().replace("/SUBSCRIPTIONS/", "/subscriptions/"), "type": "microsoft.cache/redis",
     "subscriptionId": SUBSCRIPTION_ID},
]


def test_rows_crafted_by_an_attacker_are_refused_and_never_listed() -> None:
    with running_emulator(_fleet(), graph_hostile_rows=HOSTILE_ROWS) as server:
        listing = _gateway(server).list_fleet(FleetScope(subscriptions=(SUBSCRIPTION_ID, OTHER_SUB)), ALLOWED)
    assert sorted(c.cache.name for c in listing.caches) == ["a-0", "a-1", "a-2", "b-0", "b-1"]
    assert listing.refused_count == len(HOSTILE_ROWS)
    reasons = [r.reason for r in listing.refused]
    assert reasons[0].startswith("id: resource id has an empty, '.' or '..' segment")
    assert reasons[1] == "id: provider 'Microsoft.Storage' is not Microsoft.Cache"
    assert reasons[2] == "subscriptionId column does not match the id"
    assert reasons[3] == f"subscription {THIRD_SUB} is outside the scan's scope"
    assert reasons[4].startswith("id: resource id contains non-ASCII") and "?" in listing.refused[4].row_id
    assert reasons[5] == "id: resource id contains encoded or reserved characters"
    assert reasons[6] == "id: resource id must be a string" and listing.refused[6].row_id == "'list'"
    assert reasons[7:] == ["type column does not match the id's resource type",
                           "resourceGroup column does not match the id", "properties is not an object",
                           "the same id came twice"]


def test_a_spent_user_quota_is_waited_out_between_pages(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(graph, "PAGE_ROWS", 1)
    quota = UserQuota(queries=2, window_seconds=2.0)
    with running_emulator(_fleet(), graph_quota=quota) as server:
        gw = _gateway(server)
        slept: list[float] = []
        gw.graph.sleep = slept.append
        listing = gw.list_fleet(FleetScope(subscriptions=(SUBSCRIPTION_ID,)), ALLOWED)
        calls = _graph_calls(server)
    assert len(listing.caches) == 3 and listing.quota_waits >= 1 and slept and max(slept) <= 2
    # the waits were only counted, so the third query found the window spent: a 429 that GraphRetryPolicy retried
    # after x-ms-user-quota-resets-after, not given up on
    statuses = [c["status"] for c in calls]
    assert statuses.count(200) == 3 and statuses.count(429) >= 1 and quota.throttled == statuses.count(429)


def test_a_quota_that_resets_too_late_is_throttled_not_waited_for(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(graph, "PAGE_ROWS", 1)
    with running_emulator(_fleet(), graph_quota=UserQuota(queries=1, window_seconds=600.0)) as server:
        with pytest.raises(ArmError) as exc:
            _gateway(server).list_fleet(FleetScope(subscriptions=(SUBSCRIPTION_ID,)), ALLOWED)
        calls = _graph_calls(server)
    assert exc.value.kind == "throttled" and exc.value.code == "RateLimiting"
    assert len(calls) == 1  # nothing sent once ARG said the quota is spent for ten minutes


def test_without_the_resource_graph_action_the_query_is_refused() -> None:
    auth = Authorization.from_infra().without(GRAPH_READ_ACTION)
    with running_emulator(_fleet(), authorization=auth) as server, pytest.raises(ArmError) as exc:
        _gateway(server).list_fleet(FleetScope(subscriptions=(SUBSCRIPTION_ID,)), ALLOWED)
    assert (exc.value.kind, exc.value.code, exc.value.status) == ("blocked", "AuthorizationFailed", 403)
    assert GRAPH_READ_ACTION in Gateway.ACTIONS


def test_rows_of_caches_the_role_cannot_read_are_not_returned() -> None:
    auth = Authorization.from_infra().without("Microsoft.Cache/redis/read")
    with running_emulator(_fleet(), authorization=auth) as server:
        listing = _gateway(server).list_fleet(FleetScope(subscriptions=(SUBSCRIPTION_ID,)), ALLOWED)
    assert listing.caches == ()


@pytest.mark.parametrize(("body", "code"), [
    ({"data": [], "resultTruncated": "true"}, "ResultTruncated"),
    ({"data": {"columns": [], "rows": []}, "resultTruncated": "false"}, "InvalidListAnswer"),
    ({"data": [], "resultTruncated": "false", "$skipToken": "x" * 5000}, "PagingCut"),
    ({"data": [], "resultTruncated": "false", "$skipToken": "a\nb"}, "PagingCut"),
    (["not", "an", "object"], "InvalidListAnswer"),
])
def test_answers_that_are_not_a_whole_page_are_refused(body: Any, code: str) -> None:
    with pytest.raises(ArmError) as exc:
        graph._page(body)
    assert exc.value.code == code


def test_quota_header_parsing_accepts_only_arg_shapes() -> None:
    assert graph.parse_resets_after("00:00:05") == 5 and graph.parse_resets_after("01:02:03") == 3723
    assert graph.parse_resets_after("5") is None and graph.parse_resets_after("00:99:00") is None
    assert graph.parse_resets_after(None) is None
    assert graph.parse_remaining("0") == 0 and graph.parse_remaining("-1") is None
    assert graph.parse_remaining("9" * 40) is None


def _alert_rule(name: str, subscription_id: str, **props: Any) -> dict[str, Any]:
    rg = f"/subscriptions/{subscription_id}/resourceGroups/rg-warden/providers/Microsoft.Insights/scheduledQueryRules"
    return {"id": f"{rg}/{name}", "location": "uksouth", "tags": {"warden-detection": "failed-auth"},
            "properties": {"enabled": True, "scopes": ["/subscriptions/x/ws"],
                           "criteria": {"allOf": [{"query": "ACRConnectedClientList | count"}]}, **props}}


HOSTILE_RULE_ROWS = [
    # a storage account claiming the rule type, a rule whose subscriptionId column lies, one off scope
    {"id": f"/subscriptions/{SUBSCRIPTION_ID}/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/s",
     "type": "microsoft.insights/scheduledqueryrules", "subscriptionId": SUBSCRIPTION_ID, "properties": {}},
    {**_alert_rule("liar", THIRD_SUB), "type": "microsoft.insights/scheduledqueryrules",
     "subscriptionId": SUBSCRIPTION_ID},
    {**_alert_rule("off-scope", THIRD_SUB), "type": "microsoft.insights/scheduledqueryrules",
     "subscriptionId": THIRD_SUB},
    {**_alert_rule("no-props", SUBSCRIPTION_ID), "type": "microsoft.insights/scheduledqueryrules", "properties": []},
]


def test_one_query_stands_for_every_subscriptions_scheduled_query_rules() -> None:
    """In a multi-subscription scan the log alert rules come from one ARG query (issue 13: one ARM list per
    subscription otherwise); each subscription's, as its ARM list would give them, are read by its caches with
    no ARM list, in that scan only. Crafted rows are refused and never used."""
    fleet = _fleet()
    fleet[0]["scheduledQueryRules"] = [_alert_rule("alert-a", SUBSCRIPTION_ID), _alert_rule("alert-b", SUBSCRIPTION_ID)]
    fleet[5]["scheduledQueryRules"] = [_alert_rule("alert-third", THIRD_SUB)]
    with running_emulator(fleet, graph_hostile_rows=HOSTILE_RULE_ROWS) as server:
        gw = _gateway(server)
        listing = gw.offer_fleet_log_alert_rules(FleetScope(subscriptions=(SUBSCRIPTION_ID, OTHER_SUB)), ALLOWED,
                                                 "scan-1")
        in_scan = [gw.read(parse_cache_id(cache_id(name, subscription_id=sub)), frozenset({"log_alert_rules"}),
                           scan_id="scan-1") for name, sub in (("a-1", SUBSCRIPTION_ID), ("b-0", OTHER_SUB))]
        arm_lists = [c for c in server.requests() if "scheduledqueryrules" in c["path"].lower()]
        other_scan = gw.read(parse_cache_id(cache_id("a-1")), frozenset({"log_alert_rules"}), scan_id="scan-2")
        arm_lists_after = [c for c in server.requests() if "scheduledqueryrules" in c["path"].lower()]
        direct = gw.monitor.log_alert_rules(SUBSCRIPTION_ID)
    assert set(listing.by_subscription) == {SUBSCRIPTION_ID, OTHER_SUB}
    assert [r.id.rsplit("/", 1)[-1] for r in listing.by_subscription[SUBSCRIPTION_ID]] == ["alert-a", "alert-b"]
    assert listing.by_subscription[OTHER_SUB] == ()
    assert listing.by_subscription[SUBSCRIPTION_ID] == direct  # what the subscription's ARM list answers
    assert [len(s.log_alert_rules or ()) for s in in_scan] == [2, 0] and arm_lists == []
    assert other_scan.log_alert_rules == direct and [c["method"] for c in arm_lists_after] == ["GET"]
    assert listing.refused_count == len(HOSTILE_RULE_ROWS)
    assert [r.reason for r in listing.refused] == [
        "id: not a scheduled query rule id by ARM's grammar", "subscriptionId column does not match the id",
        f"subscription {THIRD_SUB} is outside the scan's scope", "properties is not an object"]
