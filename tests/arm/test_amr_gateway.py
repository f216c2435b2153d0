"""The gateway's Azure Managed Redis half: the real azure-mgmt-redisenterprise SDK over HTTPS against the
emulator, authenticated by the real ManagedIdentityCredential."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from azure.identity import ManagedIdentityCredential

from emulator.server import EmulatorServer
from emulator.testing import running_emulator, sample_cache
from remediators.arm.gateway import ArmError, Gateway
from remediators.models import PatchCache, PatchDatabase, PutDiagnosticSetting, PutFirewallRule
from remediators.resource_ids import parse_cache_id, parse_scope
from tests.amr_fleet import WORKSPACE, assignment, cluster_id, logs_to_workspace, sample_cluster

NEEDS = frozenset({"diagnostic_settings", "diagnostic_categories", "linked_servers", "access_policy_assignments"})
AMR = parse_cache_id(cluster_id("amr1"))
PARTNER = cluster_id("amr-eu", "rg-eu") + "/databases/default"


@pytest.fixture(params=["recorded", "updating"])
def server(request: pytest.FixtureRequest) -> Iterator[EmulatorServer]:
    """Both LRO shapes in every run: a cluster PATCH follows Azure-AsyncOperation only under `recorded`."""
    geo = {"groupNickname": "g", "linkedDatabases": [{"id": cluster_id("amr1") + "/databases/default"},
                                                     {"id": PARTNER}]}
    fleet = [
        sample_cache("c1"),
        sample_cluster("amr1", database={"clientProtocol": "Plaintext", "geoReplication": geo},
                       assignments=[assignment()], diagnostic_settings=[logs_to_workspace()]),
        sample_cluster("amr-eu", resource_group="rg-eu", location="West Europe"),
        sample_cluster("amr-busy", knobs={"busyForGets": 50}),
        sample_cluster("amr-slow", knobs={"lroSeconds": 3600}),
    ]
    with running_emulator(fleet, lro_shape=request.param) as s:
        yield s


@pytest.fixture
def gateway(server: EmulatorServer) -> Gateway:
    return Gateway(server.arm_endpoint, ManagedIdentityCredential(), timeout=10, lro_wait_seconds=2,
                   polling_interval=0.0)


def test_read_builds_the_snapshot_from_cluster_and_databases(gateway: Gateway):
    snap = gateway.read(AMR, NEEDS)
    assert snap.resource["name"] == "amr1" and snap.provisioning_state == "Succeeded"
    assert [d["name"] for d in snap.databases] == ["default"]
    assert snap.databases[0]["properties"]["clientProtocol"] == "Plaintext"
    assert "minimumTlsVersion" not in snap.databases[0]["properties"]  # nothing invented by the SDK model
    assert [s.name for s in snap.diagnostic_settings] == ["ops"]
    assert "ConnectionEvents" in snap.diagnostic_categories
    assert snap.linked_servers == ({"id": PARTNER, "name": "amr-eu", "location": "West Europe"},)
    assert snap.access_policy_assignments[0]["name"] == "appreader"


def test_inputs_not_needed_are_not_read(server: EmulatorServer, gateway: Gateway):
    snap = gateway.read(AMR, frozenset())
    assert (snap.diagnostic_settings, snap.linked_servers, snap.access_policy_assignments) == (None, None, None)
    paths = [r["path"].lower() for r in server.requests() if r["method"] == "GET"]
    assert not [p for p in paths if "diagnosticsettings" in p or "accesspolicy" in p]


def test_list_caches_includes_clusters(gateway: Gateway):
    found = gateway.list_caches(parse_scope("/subscriptions/6f1c7e3a-2b4d-4c1e-9f3a-0d2b8e5a7c11"))
    assert {c.name for c in found} == {"c1", "amr1", "amr-eu", "amr-busy", "amr-slow"}
    rg = gateway.list_caches(parse_scope("/subscriptions/6f1c7e3a-2b4d-4c1e-9f3a-0d2b8e5a7c11/resourceGroups/rg-eu"))
    assert [c.name for c in rg] == ["amr-eu"]


def test_writes_send_only_the_changed_fields_and_follow_the_operation(server: EmulatorServer, gateway: Gateway):
    assert gateway.apply(AMR, PatchCache({"properties": {"publicNetworkAccess": "Disabled"}}, ("r",), {}, {})).done
    result = gateway.apply(AMR, PatchDatabase({"properties": {"clientProtocol": "Encrypted"}}, ("r",), {}, {}))
    assert result.done and result.resource["properties"]["clientProtocol"] == "Encrypted"
    other = WORKSPACE.replace("law-warden", "law-other")  # "ops" already sends ConnectionEvents to WORKSPACE
    assert gateway.apply(AMR, PutDiagnosticSetting("r", "warden-logs", other, ("ConnectionEvents",))).done
    writes = [(r["method"], r["path"].rsplit("/", 1)[-1], r["body"]) for r in server.requests()
              if r["method"] in ("PATCH", "PUT")]
    assert writes == [("PATCH", "amr1", {"properties": {"publicNetworkAccess": "Disabled"}}),
                      ("PATCH", "default", {"properties": {"clientProtocol": "Encrypted"}}),
                      ("PUT", "warden-logs", {"properties": {"workspaceId": other, "logs": [
                          {"category": "ConnectionEvents", "enabled": True}]}})]
    if server.lro_shape == "recorded":  # the SDK followed Azure-AsyncOperation to the spec's status path
        assert [r for r in server.requests() if "/operationsstatus/" in r["path"].lower()]


def test_busy_slow_and_refused(gateway: Gateway):
    with pytest.raises(ArmError) as busy:
        gateway.apply(parse_cache_id(cluster_id("amr-busy")),
                      PatchDatabase({"properties": {"clientProtocol": "Encrypted"}}, ("r",), {}, {}))
    assert busy.value.kind == "busy"
    slow = gateway.apply(parse_cache_id(cluster_id("amr-slow")),
                         PatchCache({"properties": {"minimumTlsVersion": "1.2"}}, ("r",), {}, {}))
    assert not slow.done
    with pytest.raises(ArmError) as refused:
        gateway.apply(AMR, PatchCache({"properties": {"publicNetworkAccess": None}}, ("r",), {}, {}))
    assert refused.value.kind == "invalid" and refused.value.status == 400
    with pytest.raises(ArmError, match="does not apply"):
        gateway.apply(AMR, PutFirewallRule("r", "x", "1.1.1.1", "1.1.1.1"))
    with pytest.raises(ArmError) as gone:
        gateway.read(parse_cache_id(cluster_id("nope")), frozenset())
    assert gone.value.kind == "gone"


def test_rbac_actions_cover_the_enterprise_calls():
    assert {"Microsoft.Cache/redisEnterprise/read", "Microsoft.Cache/redisEnterprise/write",
            "Microsoft.Cache/redisEnterprise/databases/read", "Microsoft.Cache/redisEnterprise/databases/write",
            "Microsoft.Cache/redisEnterprise/databases/accessPolicyAssignments/read"} <= Gateway.ACTIONS
