"""The gateway through the real Azure SDK against the emulator: reads, lists, writes, error kinds."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from azure.identity import ManagedIdentityCredential

from emulator.principals import WARDEN
from emulator.server import EmulatorServer
from emulator.testing import StaticTokenCredential, cache_id, running_emulator, sample_cache
from remediators.arm.gateway import ApplyResult, ArmError, Gateway
from remediators.models import (
    DeleteFirewallRule,
    FirewallRule,
    ManualAction,
    PatchCache,
    PutDiagnosticSetting,
    PutFirewallRule,
)
from remediators.resource_ids import Scope, parse_cache_id

WORKSPACE = (
    "/subscriptions/6f1c7e3a-2b4d-4c1e-9f3a-0d2b8e5a7c11/resourceGroups/rg-logs/providers/"
    "Microsoft.OperationalInsights/workspaces/law-warden"
)
SUB = "6f1c7e3a-2b4d-4c1e-9f3a-0d2b8e5a7c11"


def cid(name: str, rg: str = "rg-payments") -> Any:
    return parse_cache_id(cache_id(name, rg))


def patch(body: dict[str, Any]) -> PatchCache:
    return PatchCache(body=body, rules=("non-ssl-port",), before={}, after={})


def _arm_calls(server: EmulatorServer) -> list[tuple[str, str]]:
    """(method, lower-cased path) of every ARM call; ARM paths are case-insensitive."""
    return [(e["method"], e["path"].lower()) for e in server.requests() if e["path"] != "/msi/token"]


# ---------------------------------------------------------------------------------------------- read


def test_read_keeps_raw_body_and_absent_fields_stay_absent(gateway: Gateway) -> None:
    snap = gateway.read(cid("sparse-cache"), frozenset())
    assert "minimumTlsVersion" not in snap.properties and "enableNonSslPort" not in snap.properties
    assert "redisConfiguration" not in snap.properties
    assert snap.provisioning_state == "Succeeded" and snap.location == "UK South"
    assert snap.firewall_rules is None and snap.diagnostic_settings is None  # not read => unknown, not empty


def test_read_gets_only_the_children_it_needs(gateway: Gateway, emulator_server: EmulatorServer) -> None:
    payments = cid("payments-cache")
    gateway.read(payments, frozenset())
    assert _arm_calls(emulator_server) == [("GET", payments.key)]
    snap = gateway.read(payments, frozenset({"firewall_rules", "diagnostic_settings", "diagnostic_categories"}))
    assert snap.firewall_rules == (FirewallRule("office", "81.2.69.0", "81.2.69.255"),
                                   FirewallRule("vpn", "10.8.0.0", "10.8.0.255"))
    assert [(s.name, s.workspace_id) for s in snap.diagnostic_settings or ()] == [("ops", WORKSPACE)]
    assert snap.diagnostic_settings is not None and snap.diagnostic_settings[0].logs[0].category_group == "audit"
    assert snap.diagnostic_categories == ("ConnectedClientList", "MSEntraAuthenticationAuditLog", "AllMetrics")
    paths = [p for _, p in _arm_calls(emulator_server)]
    assert any(p.endswith("/firewallrules") for p in paths)
    assert any(p.endswith("/diagnosticsettingscategories") for p in paths)


def test_read_takes_private_endpoint_connections_from_the_get_body(gateway: Gateway,
                                                                   emulator_server: EmulatorServer) -> None:
    snap = gateway.read(cid("locked-down"), frozenset())
    [pec] = snap.private_endpoint_connections or ()
    assert (pec.name, pec.status, pec.provisioning_state) == ("pe1", "Approved", "Succeeded")
    assert pec.private_endpoint_id is not None and pec.private_endpoint_id.endswith("/privateEndpoints/pe1")
    assert not any("privateendpointconnections" in p for _, p in _arm_calls(emulator_server))


def test_read_of_missing_cache_is_gone(gateway: Gateway) -> None:
    with pytest.raises(ArmError) as info:
        gateway.read(cid("deleted-cache"))
    assert (info.value.kind, info.value.status, info.value.code) == ("gone", 404, "ResourceNotFound")
    assert info.value.request_id


def test_token_arm_refuses_is_blocked_401(emulator_server: EmulatorServer) -> None:
    forged = emulator_server.mint_token(WARDEN)[:-4] + "AAAA"
    gw = Gateway(emulator_server.arm_endpoint, StaticTokenCredential(forged))
    with pytest.raises(ArmError) as info:
        gw.read(cid("payments-cache"))
    assert (info.value.kind, info.value.status, info.value.code) == ("blocked", 401, "InvalidAuthenticationToken")


# ---------------------------------------------------------------------------------------------- list


def test_list_caches_follows_next_link(gateway: Gateway, emulator_server: EmulatorServer) -> None:
    everything = gateway.list_caches(Scope(SUB))
    assert len(everything) == 9 and cid("orders-a", "rg-orders") in everything and cid("slow-cache") in everything
    list_calls = [p for m, p in _arm_calls(emulator_server) if p.endswith("/microsoft.cache/redis")]
    assert len(list_calls) == 5  # page size 2
    assert gateway.list_caches(Scope(SUB, "rg-orders")) == [cid(n, "rg-orders") for n in
                                                            ("orders-a", "orders-b", "orders-c")]
    assert gateway.list_caches(Scope(SUB, "rg-orders", cid("orders-a", "rg-orders"))) == [cid("orders-a",
                                                                                              "rg-orders")]


def test_list_of_unknown_resource_group_is_gone(gateway: Gateway) -> None:
    with pytest.raises(ArmError) as info:
        gateway.list_caches(Scope(SUB, "rg-nope"))
    assert (info.value.kind, info.value.code) == ("gone", "ResourceGroupNotFound")


# ---------------------------------------------------------------------------------------------- patch


@pytest.mark.parametrize("shape", ["recorded", "updating"])
def test_patch_sends_only_the_changed_fields_and_waits_for_succeeded(shape: str) -> None:
    fleet = [sample_cache("locked-down", properties={"publicNetworkAccess": "Disabled",
                                                    "disableAccessKeyAuthentication": True,
                                                    "enableNonSslPort": True})]
    with running_emulator(fleet, lro_shape=shape) as server:
        gw = Gateway(server.arm_endpoint, ManagedIdentityCredential(), polling_interval=0.0)
        result = gw.apply(cid("locked-down"), patch({"properties": {"enableNonSslPort": False}}))
        assert isinstance(result, ApplyResult) and result.done
        assert result.resource is not None
        assert result.resource["properties"]["provisioningState"] == "Succeeded"
        assert result.resource["properties"]["enableNonSslPort"] is False
        [sent] = [e for e in server.requests() if e["method"] == "PATCH"]
        assert sent["body"] == {"properties": {"enableNonSslPort": False}}
        assert result.request_id == sent["request_id"]
        stored = server.cache(cache_id("locked-down"))
        assert stored is not None
        # The SDK model would have reset these to its defaults; the raw body leaves them alone.
        assert stored["properties"]["publicNetworkAccess"] == "Disabled"
        assert stored["properties"]["disableAccessKeyAuthentication"] is True
        polls = [e for e in server.requests() if e["method"] == "GET"]
        assert polls and all(e["status"] in (200, 202) for e in polls)
        if shape == "recorded":
            assert any("/asyncOperations/" in e["path"] for e in polls)


@pytest.mark.parametrize("shape", ["recorded", "updating"])
def test_patch_still_running_at_the_deadline_is_not_done_and_leaves_no_poller(shape: str) -> None:
    with running_emulator([sample_cache("slow-cache", knobs={"lroSeconds": 3600})], lro_shape=shape) as server:
        gw = Gateway(server.arm_endpoint, ManagedIdentityCredential(), lro_wait_seconds=0.2, polling_interval=0.05)
        result = gw.apply(cid("slow-cache"), patch({"properties": {"enableNonSslPort": False}}))
        assert result.done is False and result.request_id
        assert not [t for t in threading.enumerate() if t.name.startswith("LROPoller") and t.is_alive()]
        stored = server.cache(cache_id("slow-cache"))
        assert stored is not None and stored["properties"]["provisioningState"] == "Updating"


def test_patch_on_busy_cache_is_busy(gateway: Gateway) -> None:
    with pytest.raises(ArmError) as info:
        gateway.apply(cid("busy-cache"), patch({"properties": {"enableNonSslPort": False}}))
    assert (info.value.kind, info.value.status, info.value.code) == ("busy", 409, "Conflict")


def test_patch_refused_by_validation_is_invalid(gateway: Gateway) -> None:
    with pytest.raises(ArmError) as info:
        gateway.apply(cid("payments-cache"), patch({"properties": {"minimumTlsVersion": "1.0"}}))
    assert (info.value.kind, info.value.status) == ("invalid", 400)


# ---------------------------------------------------------------------------------------------- firewall


def test_put_firewall_rule(gateway: Gateway, emulator_server: EmulatorServer) -> None:
    result = gateway.apply(cid("payments-cache"), PutFirewallRule("firewall", "allow_vpn2", "10.9.0.0", "10.9.0.255"))
    assert result.done and result.detail == "HTTP 201"
    assert result.resource is not None and result.resource["properties"]["startIP"] == "10.9.0.0"
    stored = emulator_server.cache(cache_id("payments-cache"))
    assert stored is not None and "allow_vpn2" in [r["name"] for r in stored["firewallRules"]]


def test_put_firewall_rule_with_invalid_name_is_invalid(gateway: Gateway) -> None:
    with pytest.raises(ArmError) as info:
        gateway.apply(cid("payments-cache"), PutFirewallRule("firewall", "allow-vpn", "10.9.0.0", "10.9.0.255"))
    assert info.value.kind == "invalid"


def test_delete_firewall_rule_relists_then_deletes(gateway: Gateway, emulator_server: EmulatorServer) -> None:
    result = gateway.apply(cid("payments-cache"), DeleteFirewallRule("firewall", "vpn", "10.8.0.0", "10.8.0.255"))
    assert result.done
    calls = _arm_calls(emulator_server)
    assert calls[-2][0] == "GET" and calls[-2][1].endswith("/firewallrules")
    assert calls[-1] == ("DELETE", cid("payments-cache").key + "/firewallrules/vpn")


def test_delete_of_changed_rule_is_stale(gateway: Gateway, emulator_server: EmulatorServer) -> None:
    with pytest.raises(ArmError) as info:
        gateway.apply(cid("payments-cache"), DeleteFirewallRule("firewall", "vpn", "10.8.0.0", "10.8.255.255"))
    assert info.value.kind == "stale"
    with pytest.raises(ArmError) as info:
        gateway.apply(cid("payments-cache"), DeleteFirewallRule("firewall", "gone_rule", "1.1.1.1", "1.1.1.1"))
    assert info.value.kind == "stale"
    assert not [m for m, _ in _arm_calls(emulator_server) if m == "DELETE"]


def test_delete_of_last_rule_with_public_access_is_unsafe(gateway: Gateway, emulator_server: EmulatorServer) -> None:
    with pytest.raises(ArmError) as info:
        gateway.apply(cid("single-rule"), DeleteFirewallRule("firewall", "office", "81.2.69.0", "81.2.69.255"))
    assert info.value.kind == "unsafe"
    assert not [m for m, _ in _arm_calls(emulator_server) if m == "DELETE"]
    # With public access disabled, the last rule admits nobody anyway: deleting it is safe.
    done = gateway.apply(cid("locked-down"), DeleteFirewallRule("firewall", "office", "81.2.69.0", "81.2.69.255"))
    assert done.done


# ---------------------------------------------------------------------------------------------- diagnostics


def test_put_diagnostic_setting(gateway: Gateway, emulator_server: EmulatorServer) -> None:
    step = PutDiagnosticSetting("diagnostic-logs", "warden-logs", WORKSPACE,
                                categories=("ConnectedClientList", "MSEntraAuthenticationAuditLog"))
    result = gateway.apply(cid("single-rule"), step)
    assert result.done
    stored = emulator_server.cache(cache_id("single-rule"))
    assert stored is not None
    [setting] = stored["diagnosticSettings"]
    sent = {k: v for k, v in setting["properties"].items() if v not in (None, [])}  # Azure Monitor's nulls
    assert sent == {"workspaceId": WORKSPACE, "logs": [
        {"category": "ConnectedClientList", "enabled": True},
        {"category": "MSEntraAuthenticationAuditLog", "enabled": True}]}


def test_data_sink_conflict_is_blocked(gateway: Gateway) -> None:
    step = PutDiagnosticSetting("diagnostic-logs", "warden-logs", WORKSPACE, category_groups=("allLogs",))
    with pytest.raises(ArmError) as info:
        gateway.apply(cid("payments-cache"), step)  # "ops" already sends the audit group there
    assert (info.value.kind, info.value.status, info.value.code) == ("blocked", 409, "Conflict")
    assert "Data sink" in info.value.message


def test_manual_action_cannot_be_applied(gateway: Gateway) -> None:
    with pytest.raises(ArmError) as info:
        gateway.apply(cid("payments-cache"), ManualAction("firewall", "ask the owner"))
    assert info.value.kind == "invalid"


# ---------------------------------------------------------------------------------------------- error kinds


@pytest.mark.parametrize(
    ("fault", "kind"),
    [
        ({"status": 409, "code": "ScopeLocked", "message": "The scope is locked."}, "blocked"),
        ({"status": 403, "code": "RequestDisallowedByPolicy", "message": "denied by policy"}, "blocked"),
        ({"status": 403, "code": "LinkedAuthorizationFailed", "message": "linked"}, "blocked"),
        ({"status": 403, "code": "AuthorizationFailed", "message": "no role"}, "blocked"),
        ({"status": 429, "code": "TooManyRequests", "message": "slow down", "retryAfter": 30}, "throttled"),
        ({"status": 503, "code": "ServiceUnavailable", "message": "down", "times": 5}, "transient"),
    ],
)
def test_arm_refusals_map_to_kinds(fault: dict[str, Any], kind: str) -> None:
    knobs = {"faults": [{"method": "PATCH", "resource": "cache", **fault}]}
    with running_emulator([sample_cache("c1", knobs=knobs)]) as server:
        gw = Gateway(server.arm_endpoint, ManagedIdentityCredential(), polling_interval=0.0, max_retry_after=1)
        with pytest.raises(ArmError) as info:
            gw.apply(cid("c1"), patch({"properties": {"enableNonSslPort": False}}))
        assert (info.value.kind, info.value.code, info.value.status) == (kind, fault["code"], fault["status"])
        patches = [e for e in server.requests() if e["method"] == "PATCH"]
        if kind == "throttled":
            assert info.value.retry_after == 30.0
            assert len(patches) == 1  # a long Retry-After is not slept through: the engine defers instead
        elif kind == "transient":
            assert len(patches) == 3  # retry_total=2
        else:
            assert len(patches) == 1  # refusals are never retried


def test_short_transient_failure_is_retried_transparently() -> None:
    knobs = {"faults": [{"method": "GET", "resource": "cache", "status": 503, "retryAfter": 0, "times": 1}]}
    with running_emulator([sample_cache("c1", knobs=knobs)]) as server:
        gw = Gateway(server.arm_endpoint, ManagedIdentityCredential())
        assert gw.read(cid("c1"), frozenset()).provisioning_state == "Succeeded"
        assert [e["status"] for e in server.requests() if e["method"] == "GET" and "msi" not in e["path"]] == [503, 200]


def test_unreachable_arm_is_transient() -> None:
    with running_emulator([sample_cache("c1")]) as server:
        endpoint = server.arm_endpoint
        credential = StaticTokenCredential(server.mint_token(WARDEN))
    gw = Gateway(endpoint, credential, timeout=2, retry_total=0)
    with pytest.raises(ArmError) as info:
        gw.read(cid("c1"))
    assert info.value.kind == "transient"


# ---------------------------------------------------------------------------------------------- identity


def test_own_identity_is_decoded_from_the_token(gateway: Gateway) -> None:
    actor = gateway.own_identity()
    assert actor.object_id == WARDEN.object_id and actor.app_id == WARDEN.client_id
    assert actor.principal_type == "ServicePrincipal"
    assert actor.managed_identity_id == WARDEN.managed_identity_id


def test_actions_cover_every_write_the_gateway_makes() -> None:
    assert {"Microsoft.Cache/redis/write", "Microsoft.Cache/redis/firewallRules/delete",
            "Microsoft.Insights/diagnosticSettings/write"} <= Gateway.ACTIONS
