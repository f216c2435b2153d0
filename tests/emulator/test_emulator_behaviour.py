"""What the emulator does when ARM says yes: paths, headers, paging, both LRO shapes, children, knobs."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from emulator.principals import JANE
from emulator.requestlog import read_log_file
from emulator.server import EmulatorServer
from emulator.testing import RawArm, cache_id, running_emulator, sample_cache

PAYMENTS = cache_id("payments-cache")
SUB = "/subscriptions/6f1c7e3a-2b4d-4c1e-9f3a-0d2b8e5a7c11"


def test_paths_are_case_insensitive_and_ids_keep_arm_casing(arm: RawArm) -> None:
    shouted = PAYMENTS.replace("/subscriptions/", "/Subscriptions/").replace("Microsoft.Cache/Redis",
                                                                              "microsoft.cache/REDIS")
    resp = arm.request("GET", shouted.replace("payments-cache", "PAYMENTS-CACHE"))
    assert resp.status_code == 200
    assert resp.json()["id"] == PAYMENTS


def test_every_response_carries_request_and_correlation_ids(arm: RawArm) -> None:
    for resp in (arm.request("GET", PAYMENTS), arm.request("GET", cache_id("nope")),
                 arm.request("GET", PAYMENTS, api_version=None)):
        assert resp.headers["x-ms-request-id"]
        assert resp.headers["x-ms-correlation-request-id"]
    sent = arm.request("GET", PAYMENTS, headers={"x-ms-correlation-request-id": "corr-1",
                                                 "x-ms-client-request-id": "client-1"})
    assert sent.headers["x-ms-correlation-request-id"] == "corr-1"
    assert sent.headers["x-ms-client-request-id"] == "client-1"


def test_lists_page_with_next_link() -> None:
    fleet = [sample_cache(f"cache-{i}") for i in range(5)] + [sample_cache("other", resource_group="rg-other")]
    with running_emulator(fleet, page_size=2) as server:
        arm = RawArm(server)
        names, url, pages = [], f"{SUB}/providers/Microsoft.Cache/redis", 0
        while url:
            body = arm.request("GET", url).json()
            names += [c["name"] for c in body["value"]]
            url = body.get("nextLink")
            pages += 1
        assert names == ["other", "cache-0", "cache-1", "cache-2", "cache-3", "cache-4"]  # ordered by id
        assert pages == 3
        by_rg = arm.request("GET", f"{SUB}/resourceGroups/rg-other/providers/Microsoft.Cache/redis").json()
        assert [c["name"] for c in by_rg["value"]] == ["other"] and "nextLink" not in by_rg


def test_patch_updating_shape_shows_old_values_until_the_operation_finishes() -> None:
    with running_emulator([sample_cache("c1", knobs={"lroPolls": 2})], lro_shape="updating") as server:
        arm = RawArm(server)
        resp = arm.request("PATCH", cache_id("c1"), body={"properties": {"enableNonSslPort": True}})
        assert resp.status_code == 200
        assert resp.json()["properties"]["provisioningState"] == "Updating"
        assert resp.json()["properties"]["enableNonSslPort"] is False  # the change is not applied yet
        assert "Location" not in resp.headers
        assert arm.request("GET", cache_id("c1")).json()["properties"]["provisioningState"] == "Updating"
        done = arm.request("GET", cache_id("c1")).json()
        assert done["properties"]["provisioningState"] == "Succeeded"
        assert done["properties"]["enableNonSslPort"] is True


def test_patch_recorded_shape_polls_the_async_operation_url() -> None:
    with running_emulator([sample_cache("c1", location="UK South", knobs={"lroPolls": 3})],
                          lro_shape="recorded") as server:
        arm = RawArm(server)
        resp = arm.request("PATCH", cache_id("c1"), body={"properties": {"enableNonSslPort": True}})
        assert resp.status_code == 202
        assert resp.headers["Azure-AsyncOperation"] == resp.headers["Location"]
        status_url = resp.headers["Azure-AsyncOperation"]
        assert "/providers/Microsoft.Cache/locations/UK%20South/asyncOperations/" in status_url
        assert resp.json()["properties"]["provisioningState"] == "Updating"
        first = arm.request("GET", status_url)
        assert first.status_code == 200 and first.json()["status"] == "InProgress"
        assert arm.request("GET", cache_id("c1")).json()["properties"]["enableNonSslPort"] is False
        final = arm.request("GET", status_url)
        assert final.status_code == 200 and final.json()["status"] == "Succeeded"
        cache = arm.request("GET", cache_id("c1")).json()
        assert cache["properties"]["provisioningState"] == "Succeeded"
        assert cache["properties"]["enableNonSslPort"] is True


def test_operation_finishes_on_time_whether_or_not_anyone_polls() -> None:
    """No poll at all: once the operation's time is up, the next read of any kind shows it done."""
    with running_emulator([sample_cache("c1")], lro_shape="recorded", lro_seconds=0.0) as server:
        arm = RawArm(server)
        resp = arm.request("PATCH", cache_id("c1"), body={"properties": {"enableNonSslPort": True}})
        assert resp.status_code == 202 and resp.json()["properties"]["enableNonSslPort"] is False
        listed = arm.request("GET", f"{SUB}/providers/Microsoft.Cache/redis").json()["value"]
        [c1] = [c for c in listed if c["name"] == "c1"]
        assert c1["properties"]["provisioningState"] == "Succeeded"
        assert c1["properties"]["enableNonSslPort"] is True


def test_status_url_with_its_signed_parameters_removed_is_not_found() -> None:
    with running_emulator([sample_cache("c1")], lro_shape="recorded") as server:
        arm = RawArm(server)
        resp = arm.request("PATCH", cache_id("c1"), body={"properties": {"enableNonSslPort": True}})
        bare = resp.headers["Azure-AsyncOperation"].split("?", 1)[0]
        assert arm.request("GET", bare).status_code == 404


def test_patch_merges_redis_configuration_and_keeps_other_properties(arm: RawArm,
                                                                     emulator_server: EmulatorServer) -> None:
    arm.request("PATCH", PAYMENTS, body={"properties": {"redisConfiguration": {"aad-enabled": "true"}}})
    stored = emulator_server.cache(PAYMENTS)
    assert stored is not None
    assert stored["properties"]["redisConfiguration"] == {
        "maxmemory-policy": "volatile-lru", "maxclients": "1000", "aad-enabled": "true"}
    assert stored["properties"]["publicNetworkAccess"] == "Enabled"


def test_busy_for_gets_then_succeeded(arm: RawArm) -> None:
    states = [arm.request("GET", cache_id("busy-cache")).json()["properties"]["provisioningState"] for _ in range(3)]
    assert states == ["Updating", "Updating", "Succeeded"]
    ok = arm.request("PATCH", cache_id("busy-cache"), body={"properties": {"enableNonSslPort": False}})
    assert ok.status_code in (200, 202)


def test_provisioning_sequence_knob() -> None:
    knobs = {"provisioningSequence": ["Scaling", "Succeeded"]}
    with running_emulator([sample_cache("c1", knobs=knobs)]) as server:
        arm = RawArm(server)
        assert arm.request("PATCH", cache_id("c1"), body={"properties": {}}).status_code == 409
        assert arm.request("GET", cache_id("c1")).json()["properties"]["provisioningState"] == "Scaling"
        assert arm.request("GET", cache_id("c1")).json()["properties"]["provisioningState"] == "Succeeded"


def test_get_body_keeps_private_endpoint_connections_inline_and_lists_them(arm: RawArm) -> None:
    arm = RawArm(arm.server, JANE, api_version=arm.api_version)  # an Owner: the warden's role has no deletes/PE reads
    ledger = cache_id("ledger-cache", "rg-ledger")
    inline = arm.request("GET", ledger).json()["properties"]["privateEndpointConnections"]
    assert inline[0]["properties"]["privateLinkServiceConnectionState"]["status"] == "Approved"
    listed = arm.request("GET", f"{ledger}/privateEndpointConnections").json()["value"]
    assert [c["name"] for c in listed] == ["pe1"]
    assert listed[0]["type"] == "Microsoft.Cache/Redis/privateEndpointConnections"


def test_firewall_rules_put_get_list_delete(arm: RawArm, emulator_server: EmulatorServer) -> None:
    arm = RawArm(arm.server, JANE, api_version=arm.api_version)  # an Owner: the warden's role has no deletes/PE reads
    path = f"{PAYMENTS}/firewallRules/allow_vpn"
    body = {"properties": {"startIP": "10.1.0.0", "endIP": "10.1.0.255"}}
    created = arm.request("PUT", path, body=body)
    assert created.status_code == 201 and created.json()["name"] == "payments-cache/allow_vpn"
    assert arm.request("PUT", path, body=body).status_code == 200
    assert arm.request("GET", path).json()["properties"] == body["properties"]
    listed = arm.request("GET", f"{PAYMENTS}/firewallRules").json()["value"]
    assert sorted(r["name"] for r in listed) == ["payments-cache/allow_vpn", "payments-cache/office"]  # recorded
    assert arm.request("DELETE", path).status_code == 200
    assert arm.request("DELETE", path).status_code == 204
    assert arm.request("GET", path).status_code == 404
    stored = emulator_server.cache(PAYMENTS)
    assert stored is not None and [r["name"] for r in stored["firewallRules"]] == ["office"]


def test_diagnostic_settings_categories_default_and_configured() -> None:
    offered = [{"name": "ConnectedClientList", "categoryGroups": ["allLogs"]}, "CustomLog"]
    fleet = [sample_cache("c1"), sample_cache("c2", knobs={"offeredDiagnosticCategories": offered})]
    with running_emulator(fleet) as server:
        arm = RawArm(server, api_version="2021-05-01-preview")
        path = "/providers/Microsoft.Insights/diagnosticSettingsCategories"
        default = arm.request("GET", cache_id("c1") + path).json()["value"]
        assert {c["name"]: c["properties"]["categoryGroups"] for c in default if
                c["properties"]["categoryType"] == "Logs"} == {
            "ConnectedClientList": ["allLogs"], "MSEntraAuthenticationAuditLog": ["audit", "allLogs"]}
        configured = arm.request("GET", cache_id("c2") + path).json()["value"]
        assert [c["name"] for c in configured] == ["ConnectedClientList", "CustomLog"]


def test_diagnostic_settings_put_get_list_delete(arm: RawArm) -> None:
    arm = RawArm(arm.server, JANE, api_version=arm.api_version)  # an Owner: the warden's role has no deletes/PE reads
    base = f"{PAYMENTS}/providers/Microsoft.Insights/diagnosticSettings"
    body = {"properties": {"workspaceId": "/subscriptions/x/resourceGroups/y/providers/"
                                          "Microsoft.OperationalInsights/workspaces/z",
                           "logs": [{"categoryGroup": "audit", "enabled": True}]}}
    put = arm.request("PUT", f"{base}/warden", api_version="2021-05-01-preview", body=body)
    assert put.status_code == 200 and put.json()["type"] == "Microsoft.Insights/diagnosticSettings"
    got = arm.request("GET", f"{base}/warden", api_version="2021-05-01-preview").json()
    assert {k: got["properties"][k] for k in body["properties"]} == body["properties"]
    assert got["properties"]["eventHubName"] is None and got["identity"] is None  # Azure Monitor's nulls
    assert [s["name"] for s in arm.request("GET", base, api_version="2021-05-01-preview").json()["value"]] == [
        "warden"]
    assert arm.request("DELETE", f"{base}/warden", api_version="2021-05-01-preview").status_code == 200
    assert arm.request("GET", f"{base}/warden", api_version="2021-05-01-preview").status_code == 404


def test_injected_faults_fire_the_configured_number_of_times() -> None:
    faults = [{"method": "GET", "resource": "cache", "status": 429, "code": "TooManyRequests",
               "message": "slow down", "retryAfter": 7, "times": 1}]
    with running_emulator([sample_cache("c1", knobs={"faults": faults})]) as server:
        arm = RawArm(server)
        first = arm.request("GET", cache_id("c1"))
        assert first.status_code == 429 and first.headers["Retry-After"] == "7"
        assert first.json() == {"error": {"code": "TooManyRequests", "message": "slow down"}}
        assert arm.request("GET", cache_id("c1")).status_code == 200


def test_delete_cache_then_404(arm: RawArm, emulator_server: EmulatorServer) -> None:
    arm = RawArm(arm.server, JANE, api_version=arm.api_version)  # an Owner: the warden's role has no deletes/PE reads
    orders = cache_id("orders-cache")
    assert arm.request("DELETE", orders).status_code == 200
    assert arm.request("GET", orders).status_code == 404
    assert emulator_server.cache(orders) is None


@pytest.mark.parametrize("shape", ["recorded", "updating"])
def test_request_log_records_method_path_caller_status(shape: str, tmp_path: Path) -> None:
    log_file = tmp_path / "requests.jsonl"
    with running_emulator([sample_cache("c1")], lro_shape=shape, request_log=log_file) as server:
        arm = RawArm(server)
        arm.request("PATCH", cache_id("c1"), body={"properties": {"enableNonSslPort": False}})
        arm.request("GET", cache_id("nope"))
        over_http = arm.request("GET", "/_emulator/requests", api_version=None).json()
        in_process = server.requests()
    in_file = read_log_file(log_file)
    patch = in_process[0]
    assert patch["method"] == "PATCH" and patch["api_version"] == "2024-11-01"
    assert patch["status"] == (200 if shape == "updating" else 202)
    assert patch["caller"] == {"oid": "9e8d7c6b-0000-4000-8000-0000000000aa",
                               "appid": "3d2b9c1e-6a0f-4b7e-8c55-9a1e2f3d4c5b", "name": "id-redis-warden"}
    assert patch["body"] == {"properties": {"enableNonSslPort": False}}
    assert in_process[1]["status"] == 404 and in_process[1]["error"] == "ResourceNotFound"
    assert [e["request_id"] for e in in_file] == [e["request_id"] for e in in_process]
    assert [e["request_id"] for e in over_http] == [e["request_id"] for e in in_process[:2]]


@pytest.mark.parametrize("shape", ["recorded", "updating"])
def test_lro_seconds_keeps_the_operation_running_and_sets_retry_after(shape: str) -> None:
    """A duration far beyond the test: the outcome is certain without measuring time."""
    with running_emulator([sample_cache("c1")], lro_shape=shape, lro_polls=0, lro_seconds=3600) as server:
        arm = RawArm(server)
        resp = arm.request("PATCH", cache_id("c1"), body={"properties": {"enableNonSslPort": False}})
        assert resp.json()["properties"]["provisioningState"] == "Updating"
        if shape == "recorded":
            assert 3590 <= int(resp.headers["Retry-After"]) <= 3600
            polled = arm.request("GET", resp.headers["Azure-AsyncOperation"])
            assert polled.status_code == 200 and polled.json()["status"] == "InProgress"
        assert arm.request("GET", cache_id("c1")).json()["properties"]["provisioningState"] == "Updating"
        assert arm.request("PATCH", cache_id("c1"), body={"properties": {}}).status_code == 409


def test_chunked_request_bodies_are_read(arm: RawArm, emulator_server: EmulatorServer) -> None:
    def body() -> Iterator[bytes]:
        yield b'{"properties": '
        yield b'{"enableNonSslPort": true}}'

    resp = arm.session.patch(f"{emulator_server.arm_endpoint}{PAYMENTS}", params={"api-version": "2024-11-01"},
                             data=body(), headers={"Content-Type": "application/json"}, timeout=10)
    assert resp.status_code in (200, 202)
    assert emulator_server.requests()[-1]["body"] == {"properties": {"enableNonSslPort": True}}
