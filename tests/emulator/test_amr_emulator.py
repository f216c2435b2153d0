"""The emulator's Microsoft.Cache/redisEnterprise API (2025-07-01): reads, both LRO shapes, events, and
every refusal listed in emulator/README.md ("ARM rejects X", Azure Managed Redis rows)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from emulator.enterprise_fleet import load_clusters
from emulator.fleet import FleetError, load_fleet
from emulator.principals import JANE, SUBSCRIPTION_ID
from emulator.server import EmulatorServer
from emulator.testing import RawArm, running_emulator, sample_cache
from tests.amr_fleet import assignment, cluster_id, logs_to_workspace, sample_cluster

API = "2025-07-01"
AMR = cluster_id("amr1")
DB = AMR + "/databases/default"
DS = DB + "/providers/Microsoft.Insights/diagnosticSettings"


def fleet() -> list[dict[str, Any]]:
    return [
        sample_cache("payments-cache"),
        sample_cluster("amr1", database={"clientProtocol": "Plaintext"}, assignments=[assignment()],
                       diagnostic_settings=[logs_to_workspace()]),
        sample_cluster("amr-old", properties={"publicNetworkAccess": None}),
        sample_cluster("amr-busy", knobs={"busyForGets": 50}),
        sample_cluster("amr-other", resource_group="rg-orders"),
    ]


@pytest.fixture
def server() -> Iterator[EmulatorServer]:
    with running_emulator(fleet()) as s:
        yield s


@pytest.fixture
def arm(server: EmulatorServer) -> RawArm:
    return RawArm(server, api_version=API)


def error(resp: Any) -> dict[str, Any]:
    return resp.json()["error"]


# ---------------------------------------------------------------------------------------------- reads


def test_list_by_subscription_pages_with_next_link(arm: RawArm):
    first = arm.request("GET", f"/subscriptions/{SUBSCRIPTION_ID}/providers/Microsoft.Cache/redisEnterprise").json()
    assert len(first["value"]) == 2 and "nextLink" in first  # page size 2
    everything = {c["name"] for c in first["value"]}
    page = first
    while "nextLink" in page:
        page = arm.request("GET", page["nextLink"]).json()
        everything |= {c["name"] for c in page["value"]}
    assert everything == {"amr1", "amr-old", "amr-busy", "amr-other"}  # the redis cache is not listed here


def test_list_by_resource_group_and_children(arm: RawArm):
    arm = RawArm(arm.server, JANE, api_version=arm.api_version)  # an Owner: the warden's role has no deletes/PE reads
    rg = arm.request("GET", f"/subscriptions/{SUBSCRIPTION_ID}/resourceGroups/rg-orders/providers/"
                            "Microsoft.Cache/redisEnterprise").json()
    assert [c["name"] for c in rg["value"]] == ["amr-other"]
    dbs = arm.request("GET", AMR + "/databases").json()["value"]
    assert [d["name"] for d in dbs] == ["default"] and dbs[0]["properties"]["clientProtocol"] == "Plaintext"
    assignments = arm.request("GET", DB + "/accessPolicyAssignments").json()["value"]
    assert assignments[0]["id"].endswith("/databases/default/accessPolicyAssignments/appreader")
    assert arm.request("GET", AMR + "/privateEndpointConnections").json() == {"value": []}
    cats = arm.request("GET", DB + "/providers/Microsoft.Insights/diagnosticSettingsCategories",
                       api_version="2021-05-01-preview").json()["value"]
    assert {c["name"] for c in cats} == {"ConnectionEvents", "AllMetrics"}
    settings = arm.request("GET", DS, api_version="2021-05-01-preview").json()["value"]
    assert [s["name"] for s in settings] == ["ops"]


# ---------------------------------------------------------------------------------------------- writes


def test_cluster_patch_is_a_long_running_operation_in_the_configured_shape(server: EmulatorServer, arm: RawArm):
    resp = arm.request("PATCH", AMR, body={"properties": {"publicNetworkAccess": "Disabled"}})
    if server.lro_shape == "recorded":  # as recorded (tests/conformance/fixtures/amr_cluster_update_lro.json)
        assert resp.status_code == 200 and resp.json()["properties"]["provisioningState"] == "Updating"
        status_url = resp.headers["Azure-AsyncOperation"]
        assert "/providers/Microsoft.Cache/locations/UK%20South/operationsStatus/" in status_url
        assert resp.headers["Location"].split("?")[0].endswith(f"{AMR}/operationresults/" +
                                                               status_url.split("?")[0].rsplit("/", 1)[-1])
        polled = arm.request("GET", status_url).json()
        assert polled["status"] == "Succeeded" and polled["endTime"]  # lroPolls 1: done on the first poll
        assert arm.request("GET", status_url.split("&t=")[0]).status_code == 404  # without ARM's signed `t`
    else:
        assert resp.status_code == 200 and resp.json()["properties"]["provisioningState"] == "Updating"
        assert arm.request("GET", AMR).json()["properties"]["provisioningState"] == "Succeeded"
    assert server.cluster(AMR)["properties"]["publicNetworkAccess"] == "Disabled"
    event = server.events()[-1]
    assert event["subject"] == AMR and event["data"]["operationName"] == "Microsoft.Cache/redisEnterprise/write"


def test_database_patch_changes_only_what_is_sent_and_emits_an_event(server: EmulatorServer, arm: RawArm):
    resp = arm.request("PATCH", DB, body={"properties": {"clientProtocol": "Encrypted"}})
    assert resp.status_code in (200, 202)
    props = server.cluster(AMR)["databases"][0]["properties"]
    assert props["clientProtocol"] == "Encrypted" and props["evictionPolicy"] == "VolatileLRU"
    assert server.events()[-1]["data"]["operationName"] == "Microsoft.Cache/redisEnterprise/databases/write"


def test_diagnostic_setting_on_the_database(server: EmulatorServer, arm: RawArm):
    body = {"properties": {"workspaceId": "/subscriptions/x/resourceGroups/y/providers/"
                                          "Microsoft.OperationalInsights/workspaces/other",
                           "logs": [{"category": "ConnectionEvents", "enabled": True}]}}
    assert arm.request("PUT", DS + "/second", api_version="2021-05-01-preview", body=body).status_code == 200
    names = {s["name"] for s in server.cluster(AMR)["databases"][0]["diagnosticSettings"]}
    assert names == {"ops", "second"}
    assert server.events()[-1]["subject"].lower() == (DS + "/second").lower()


# ---------------------------------------------------------------------------------------------- refusals


def test_public_network_access_cannot_be_set_to_null(server: EmulatorServer, arm: RawArm):
    for cluster in (AMR, cluster_id("amr-old")):
        resp = arm.request("PATCH", cluster, body={"properties": {"publicNetworkAccess": None}})
        assert resp.status_code == 400 and error(resp)["target"] == "properties.publicNetworkAccess"
        assert "cannot be set to null" in error(resp)["message"]
    assert server.cluster(cluster_id("amr-old"))["properties"]["publicNetworkAccess"] is None
    assert not server.events()


def test_an_old_cluster_can_have_public_access_disabled(server: EmulatorServer, arm: RawArm):
    resp = arm.request("PATCH", cluster_id("amr-old"), body={"properties": {"publicNetworkAccess": "Disabled"}})
    assert resp.status_code in (200, 202)


@pytest.mark.parametrize("tls", ["1.0", "1.1"])
def test_tls_below_1_2_is_refused(arm: RawArm, tls: str):
    resp = arm.request("PATCH", AMR, body={"properties": {"minimumTlsVersion": tls}})
    assert resp.status_code == 400 and error(resp)["target"] == "properties.minimumTlsVersion"


@pytest.mark.parametrize(
    ("path", "body", "status", "code", "target"),
    [
        (AMR, {"properties": {"publicNetworkAccess": "Open"}}, 400, "BadRequest", "properties.publicNetworkAccess"),
        (AMR, {"properties": {"minimumTlsVersion": 1.2}}, 400, "InvalidRequestContent", "properties.minimumTlsVersion"),
        (AMR, {"properties": {"publicAccess": "Disabled"}}, 400, "BadRequest", "properties.publicAccess"),
        (DB, {"properties": {"clientProtocol": "Clear"}}, 400, "BadRequest", "properties.clientProtocol"),
        (DB, {"properties": {"accessKeysAuthentication": "Off"}}, 400, "BadRequest",
         "properties.accessKeysAuthentication"),
        (DB, {"properties": {"port": 10001}}, 400, "BadRequest", "properties.port"),
        (DB, {"properties": {"geoReplication": {"groupNickname": "g"}}}, 400, "BadRequest",
         "properties.geoReplication"),
        (DB, {"properties": {"clusteringPolicy": "EnterpriseCluster"}}, 400, "BadRequest",
         "properties.clusteringPolicy"),
    ],
    ids=["enum", "type", "unknown", "db-enum", "db-keys-enum", "create-only-port", "create-only-geo",
         "clustering-policy"],
)
def test_bodies_are_validated_against_the_spec(arm: RawArm, path: str, body: Any, status: int, code: str,
                                               target: str):
    resp = arm.request("PATCH", path, body=body)
    assert (resp.status_code, error(resp)["code"], error(resp).get("target")) == (status, code, target)


def test_patch_while_the_cluster_is_updating_is_busy(arm: RawArm):
    busy = cluster_id("amr-busy")
    for path in (busy, busy + "/databases/default"):
        resp = arm.request("PATCH", path, body={"properties": {"minimumTlsVersion": "1.2"}} if path == busy
                           else {"properties": {"clientProtocol": "Encrypted"}})
        assert resp.status_code == 409 and error(resp)["code"] == "Conflict" and "busy" in error(resp)["message"]


def test_unknown_cluster_database_and_api_version(arm: RawArm):
    resp = arm.request("GET", cluster_id("nope"))
    assert resp.status_code == 404 and "Microsoft.Cache/redisEnterprise/nope" in error(resp)["message"]
    assert arm.request("GET", AMR + "/databases/db2").status_code == 404
    resp = arm.request("GET", AMR, api_version="2024-11-01")
    assert resp.status_code == 400 and error(resp)["code"] == "NoRegisteredProviderFound"


def test_category_the_database_does_not_offer_is_refused(arm: RawArm):
    arm = RawArm(arm.server, JANE, api_version=arm.api_version)  # an Owner: the warden's role has no deletes/PE reads
    body = {"properties": {"workspaceId": "/subscriptions/x/w", "logs": [{"category": "ConnectedClientList",
                                                                          "enabled": True}]}}
    resp = arm.request("PUT", DS + "/x", api_version="2021-05-01-preview", body=body)
    assert resp.status_code == 400 and "ConnectedClientList" in resp.json()["message"]


def test_writes_by_a_person_carry_her_claims(server: EmulatorServer):
    jane = RawArm(server, JANE, api_version=API)
    assert jane.request("PATCH", DB, body={"properties": {"clientProtocol": "Encrypted"}}).status_code in (200, 202)
    assert server.events()[-1]["data"]["claims"]["name"] == JANE.display_name


# ---------------------------------------------------------------------------------------------- fleet


def test_fleet_splits_caches_and_clusters_and_checks_clusters():
    entries = fleet()
    assert [s.name for s in load_fleet(entries)] == ["payments-cache"]
    clusters = load_clusters(entries)
    assert [c.name for c in clusters] == ["amr1", "amr-old", "amr-busy", "amr-other"]
    assert clusters[0].databases[0].access_policy_assignments[0]["name"] == "appreader"
    bad_db = sample_cluster("amr1")
    bad_db["databases"][0]["name"] = "db2"
    with pytest.raises(FleetError, match="named 'default'"):
        load_clusters([bad_db])
    unknown = sample_cluster("amr1")
    unknown["databases"][0]["properties"]["clientProtocl"] = "Plaintext"
    with pytest.raises(FleetError, match="clientProtocl"):
        load_clusters([unknown])
    wrong_id = sample_cluster("amr1")
    wrong_id["id"] = wrong_id["id"].replace("redisEnterprise", "Redis")
    with pytest.raises(FleetError, match="not a Microsoft.Cache/redisEnterprise"):
        load_clusters([wrong_id])
