"""ARM's token buckets (emulator/throttling.py) and Azure Resource Graph (emulator/resource_graph.py).

Expected shapes come from Microsoft's documentation and recorded traffic cited in those modules (the 2024
token-bucket limits, `...-remaining-subscription-reads: 249` / `-global-reads: 3749` on a full bucket, ARG's
`resultTruncated: "false"`, `$skipToken`, `x-ms-user-quota-*` headers, 400 InvalidQuery, 429 RateLimiting).
The Resource Graph queries go through the real `azure-mgmt-resourcegraph` client.
"""

from __future__ import annotations

import uuid

import pytest
from azure.mgmt.resourcegraph import ResourceGraphClient
from azure.mgmt.resourcegraph.models import QueryRequest, QueryRequestOptions

from emulator.principals import JANE, SUBSCRIPTION_ID, TENANT_ID
from emulator.resource_graph import QueryError, UserQuota, hhmmss, parse_query
from emulator.testing import EmulatorCredential, RawArm, cache_id, running_emulator, sample_cache
from emulator.throttling import RateLimits

OTHER_SUB = "11111111-2222-3333-4444-555555555555"
QUERY = "resources | where type =~ 'microsoft.cache/redis' | project id, name, type, subscriptionId, properties"


def _other(name: str) -> dict:
    entry = sample_cache(name)
    entry["id"] = entry["id"].replace(SUBSCRIPTION_ID, OTHER_SUB)
    return entry


def test_full_bucket_answers_as_recorded_and_counts_down_per_principal() -> None:
    now = [0.0]
    limits = RateLimits(enforce=True, clock=lambda: now[0])
    first = limits.decide(SUBSCRIPTION_ID, "warden", "GET")
    assert first.headers() == {"x-ms-ratelimit-remaining-subscription-reads": "249",
                               "x-ms-ratelimit-remaining-subscription-global-reads": "3749"}
    for _ in range(249):
        assert limits.decide(SUBSCRIPTION_ID, "warden", "GET").allowed
    refused = limits.decide(SUBSCRIPTION_ID, "warden", "GET")
    assert (refused.allowed, refused.retry_after, refused.headers()["Retry-After"]) == (False, 1, "1")
    assert "Number of 'read' requests for subscription" in refused.message(SUBSCRIPTION_ID, "warden")
    # another principal and another subscription have their own buckets; writes and deletes theirs
    assert limits.decide(SUBSCRIPTION_ID, "jane", "GET").allowed
    assert limits.decide(OTHER_SUB, "warden", "GET").allowed
    assert limits.decide(SUBSCRIPTION_ID, "warden", "PATCH").headers()[
        "x-ms-ratelimit-remaining-subscription-writes"] == "199"
    assert limits.decide(SUBSCRIPTION_ID, "warden", "DELETE").operation == "deletes"
    now[0] += 0.04  # one token at 25/s
    assert limits.decide(SUBSCRIPTION_ID, "warden", "GET").allowed
    assert limits.throttled_total() == 1


def test_time_scale_speeds_refill_and_floor_lengthens_retry_after() -> None:
    now = [0.0]
    limits = RateLimits(enforce=True, reads=(2.0, 25.0), time_scale=4.0, retry_after_floor=10,
                        clock=lambda: now[0])
    assert limits.limits("reads") == (2.0, 100.0)
    assert limits.decide(SUBSCRIPTION_ID, "w", "GET").allowed and limits.decide(SUBSCRIPTION_ID, "w", "GET").allowed
    refused = limits.decide(SUBSCRIPTION_ID, "w", "GET")
    assert (refused.allowed, refused.retry_after) == (False, 10)
    now[0] += 0.01  # one token at 100/s
    assert limits.decide(SUBSCRIPTION_ID, "w", "GET").allowed
    with pytest.raises(ValueError):
        RateLimits(time_scale=0)


def test_enforced_buckets_answer_429_over_https_and_change_nothing() -> None:
    limits = RateLimits(enforce=True, reads=(2.0, 0.5), retry_after_floor=12)
    with running_emulator([sample_cache("t-cache")], rate_limits=limits) as server:
        arm = RawArm(server)
        assert [arm.request("GET", cache_id("t-cache")).status_code for _ in range(3)] == [200, 200, 429]
        refused = arm.request("GET", cache_id("t-cache"))
        assert refused.json()["error"]["code"] == "SubscriptionRequestsThrottled"
        assert refused.headers["Retry-After"] == "12"
        assert refused.headers["x-ms-ratelimit-remaining-subscription-reads"] == "0"
        assert RawArm(server, JANE).request("GET", cache_id("t-cache")).status_code == 200  # her own bucket
        assert [r.get("fault") for r in server.requests()][-3:] == ["rate-limit", "rate-limit", None]


def _client(server) -> ResourceGraphClient:
    return ResourceGraphClient(EmulatorCredential(server), base_url=server.arm_endpoint,
                               connection_verify=server.ca_bundle)


def test_resource_graph_pages_rows_of_the_scoped_subscriptions_through_the_sdk() -> None:
    fleet = [sample_cache(f"g-{i}") for i in range(3)] + [_other("g-other")]
    with running_emulator(fleet) as server:
        client = _client(server)
        first = client.resources(QueryRequest(subscriptions=[SUBSCRIPTION_ID], query=QUERY,
                                              options=QueryRequestOptions(top=2)))
        assert (first.total_records, first.count, first.result_truncated, len(first.data)) == (3, 2, "false", 2)
        assert first.skip_token
        rest = client.resources(QueryRequest(subscriptions=[SUBSCRIPTION_ID], query=QUERY,
                                             options=QueryRequestOptions(skip_token=first.skip_token)))
        names = [r["name"] for r in first.data + rest.data]
        assert names == ["g-0", "g-1", "g-2"] and rest.skip_token is None
        row = rest.data[0]
        assert row["type"] == "microsoft.cache/redis" and row["subscriptionId"] == SUBSCRIPTION_ID
        assert set(row) == {"id", "name", "type", "subscriptionId", "properties"}
        # the tenant root management group holds every subscription
        tenant = client.resources(QueryRequest(management_groups=[TENANT_ID], query=QUERY))
        assert tenant.total_records == 4


def test_resource_graph_quota_headers_and_429_when_spent() -> None:
    quota = UserQuota(queries=2, window_seconds=60.0)
    with running_emulator([sample_cache("q-1")], graph_quota=quota) as server:
        arm = RawArm(server, api_version="2022-10-01")
        body = {"subscriptions": [SUBSCRIPTION_ID], "query": QUERY}
        ok = arm.request("POST", "/providers/Microsoft.ResourceGraph/resources", body=body)
        assert ok.status_code == 200 and ok.headers["x-ms-user-quota-remaining"] == "1"
        assert ok.headers["x-ms-user-quota-resets-after"] in ("00:01:00", "00:00:59")
        bad = arm.request("POST", "/providers/Microsoft.ResourceGraph/resources",
                          body={**body, "query": "where where"})
        assert bad.status_code == 400
        assert [d["code"] for d in bad.json()["error"]["details"]] == ["InvalidQuery"]
        spent = arm.request("POST", "/providers/Microsoft.ResourceGraph/resources", body=body)
        assert spent.status_code == 429 and spent.json()["error"]["code"] == "RateLimiting"
        assert spent.headers["x-ms-user-quota-remaining"] == "0" and int(spent.headers["Retry-After"]) >= 1


@pytest.mark.parametrize("text", [
    "where where", "resources", "resources | where name == 'x'", "resources | extend x = 1 | where type =~ 'a'",
    "resources | where type =~ 'a' | project id; drop", "securityresources | where type =~ 'a'",
])
def test_queries_outside_the_subset_are_refused(text: str) -> None:
    with pytest.raises(QueryError):
        parse_query(text)


def test_query_subset_and_quota_window() -> None:
    q = parse_query("Resources | where type =~ 'Microsoft.Cache/Redis' or type in~ ('microsoft.cache/redisenterprise')"
                    " | order by id asc")
    assert q.types == {"microsoft.cache/redis", "microsoft.cache/redisenterprise"} and q.columns is None
    now = [0.0]
    quota = UserQuota(queries=1, window_seconds=5.0, clock=lambda: now[0])
    assert quota.take("u")[0] and not quota.take("u")[0]
    now[0] = 5.0
    assert quota.take("u") == (True, 0, 5.0)
    assert hhmmss(3661.2) == "01:01:02" and str(uuid.UUID(SUBSCRIPTION_ID))
