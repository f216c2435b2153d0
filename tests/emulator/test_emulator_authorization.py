"""The emulator authorises the warden with the roles infra/ deploys, and a role missing an action really gets
ARM's 403 (the check that replaced the session-wide comparison of the role with what the emulator saw)."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
from azure.identity import ManagedIdentityCredential

from emulator.authorization import Authorization, load_grants
from emulator.errors import ArmHttpError
from emulator.principals import JANE, SUBSCRIPTION_ID
from emulator.testing import RawArm, cache_id, running_emulator, sample_cache
from remediators.arm.errors import ArmError
from remediators.arm.gateway import Gateway
from remediators.models import PatchCache
from remediators.resource_ids import parse_cache_id

ROOT = Path(__file__).resolve().parents[2]
FIXTURE = json.loads((ROOT / "tests/conformance/fixtures/authorization_failed.json").read_text(encoding="utf-8"))
ARM_MESSAGE = re.compile(FIXTURE["message_pattern"])
LINKED = json.loads((ROOT / "tests/conformance/fixtures/linked_authorization_failed.json").read_text(encoding="utf-8"))
ARM_LINKED_MESSAGE = re.compile(LINKED["message_pattern"])
WORKSPACE = (f"/subscriptions/{SUBSCRIPTION_ID}/resourceGroups/rg-ops/providers/"
             "Microsoft.OperationalInsights/workspaces/law-ops")


def _patch() -> PatchCache:
    body = {"properties": {"enableNonSslPort": False}}
    return PatchCache(body, ("non-ssl-port",), {"enableNonSslPort": True}, {"enableNonSslPort": False})


def test_the_recorded_message_matches_the_pattern_the_emulator_is_held_to() -> None:
    [exchange] = FIXTURE["exchanges"]
    assert ARM_MESSAGE.match(exchange["response"]["body"]["error"]["message"])


def test_the_recorded_linked_message_matches_the_pattern_the_emulator_is_held_to() -> None:
    [exchange] = LINKED["exchanges"]
    assert ARM_LINKED_MESSAGE.match(exchange["response"]["body"]["error"]["message"])


def test_an_action_outside_the_role_is_refused_with_arms_authorization_failed() -> None:
    with running_emulator([sample_cache("c1")]) as server:
        resp = RawArm(server).request("POST", f"{cache_id('c1')}/listKeys")
        assert resp.status_code == 403
        error = resp.json()["error"]
        assert error["code"] == "AuthorizationFailed"
        match = ARM_MESSAGE.match(error["message"])
        assert match is not None, error["message"]
        assert match["action"] == "Microsoft.Cache/Redis/listKeys/action"
        assert match["scope"] == cache_id("c1")
        # A person (Owner in the tests) is not the warden and is not limited by its role.
        assert RawArm(server, JANE).request("POST", f"{cache_id('c1')}/listKeys").status_code == 200


def test_a_list_is_refused_at_the_subscription_scope_as_arm_words_it() -> None:
    roles = Authorization.from_infra().without("Microsoft.Cache/redis/read")
    with running_emulator([sample_cache("c1")], authorization=roles) as server:
        resp = RawArm(server).request("GET", f"/subscriptions/{SUBSCRIPTION_ID}/providers/Microsoft.Cache/Redis")
        match = ARM_MESSAGE.match(resp.json()["error"]["message"])
        assert resp.status_code == 403 and match is not None
        assert match["scope"] == f"/subscriptions/{SUBSCRIPTION_ID}"


def test_without_the_async_operation_permission_the_patch_poll_is_refused() -> None:
    """The permission the first version lacked: the PATCH is accepted, the status poll gets 403."""
    roles = Authorization.from_infra().without("Microsoft.Cache/locations/asyncOperations/read")
    with running_emulator([sample_cache("c1", properties={"enableNonSslPort": True})], authorization=roles,
                          lro_shape="recorded") as server:
        gateway = Gateway(server.arm_endpoint, ManagedIdentityCredential(), polling_interval=0.0)
        with pytest.raises(ArmError) as info:
            gateway.apply(parse_cache_id(cache_id("c1")), _patch())
        assert info.value.status == 403 and info.value.code == "AuthorizationFailed"
        statuses = [(e["method"], e["status"]) for e in server.requests()]
        assert ("PATCH", 202) in statuses and ("GET", 403) in statuses


def test_with_the_deployed_role_the_same_patch_completes() -> None:
    with running_emulator([sample_cache("c1", properties={"enableNonSslPort": True})]) as server:
        gateway = Gateway(server.arm_endpoint, ManagedIdentityCredential(), polling_interval=0.0)
        result = gateway.apply(parse_cache_id(cache_id("c1")), _patch())
        assert result.done
        assert all(e["status"] != 403 for e in server.requests())


def test_a_diagnostic_setting_needs_the_linked_permission_on_its_workspace() -> None:
    body = {"properties": {"workspaceId": WORKSPACE, "logs": [{"categoryGroup": "audit", "enabled": True}]}}
    path = f"{cache_id('c1')}/providers/Microsoft.Insights/diagnosticSettings/warden"
    with running_emulator([sample_cache("c1")]) as server:
        assert RawArm(server).request("PUT", path, body=body, api_version="2021-05-01-preview").status_code == 200
    roles = Authorization.from_infra().without("Microsoft.OperationalInsights/workspaces/sharedKeys/action")
    with running_emulator([sample_cache("c1")], authorization=roles) as server:
        resp = RawArm(server).request("PUT", path, body=body, api_version="2021-05-01-preview")
        assert resp.status_code == 403 and resp.json()["error"]["code"] == "LinkedAuthorizationFailed"
        match = ARM_LINKED_MESSAGE.match(resp.json()["error"]["message"])
        assert match is not None, resp.json()["error"]["message"]
        assert match["action"] == "Microsoft.Insights/diagnosticSettings/write" and match["scope"] == path
        assert match["linked_action"] == "Microsoft.OperationalInsights/workspaces/sharedKeys/action"
        assert match["linked_scopes"] == WORKSPACE


def test_every_refused_linked_scope_is_named_joined_by_commas_as_arm_does() -> None:
    groups = [f"/subscriptions/{SUBSCRIPTION_ID}/resourceGroups/rg-ops/providers/microsoft.insights/actionGroups/{g}"
              for g in ("ops", "oncall")]
    alert = (f"/subscriptions/{SUBSCRIPTION_ID}/resourceGroups/rg-payments/providers/"
             "Microsoft.Insights/metricAlerts/load")
    body = {"properties": {"actions": [{"actionGroupId": g} for g in groups]}}
    roles = Authorization.from_infra().without("Microsoft.Insights/actionGroups/read")
    with pytest.raises(ArmHttpError) as info:
        roles.authorize("PUT", alert, body, "warden", "00000000-0000-0000-0000-0000000000aa")
    assert info.value.status == 403 and info.value.code == "LinkedAuthorizationFailed"
    match = ARM_LINKED_MESSAGE.match(info.value.message)
    assert match is not None, info.value.message
    assert match["linked_action"] == "Microsoft.Insights/actionGroups/read"
    assert match["linked_scopes"] == ",".join(groups) and match["scope"] == alert


def test_the_workspace_permission_is_granted_on_workspaces_only() -> None:
    roles = Authorization.from_infra()
    action = "Microsoft.OperationalInsights/workspaces/sharedKeys/action"
    assert roles.allows(action, WORKSPACE)
    assert not roles.allows(action, f"/subscriptions/{SUBSCRIPTION_ID}")
    assert roles.allows("Microsoft.Insights/actionGroups/read",
                        f"/subscriptions/{SUBSCRIPTION_ID}/resourceGroups/rg/providers/microsoft.insights/actionGroups/ag")
    assert not roles.allows("Microsoft.Insights/actionGroups/read", f"/subscriptions/{SUBSCRIPTION_ID}")


def test_roles_are_read_from_infra_so_removing_an_action_there_is_enough(tmp_path: Path) -> None:
    infra = tmp_path / "infra"
    shutil.copytree(ROOT / "infra", infra)
    main = infra / "main.bicep"
    text = main.read_text(encoding="utf-8")
    assert "  'Microsoft.Cache/redis/firewallRules/delete'\n" in text
    main.write_text(text.replace("  'Microsoft.Cache/redis/firewallRules/delete'\n", ""), encoding="utf-8")
    edited = Authorization(load_grants(infra))
    rule = f"{cache_id('c1')}/firewallRules/office"
    assert Authorization.from_infra().allows("Microsoft.Cache/redis/firewallRules/delete", rule)
    assert not edited.allows("Microsoft.Cache/redis/firewallRules/delete", rule)
    with running_emulator([sample_cache("c1", firewall_rules=[("office", "81.2.69.0", "81.2.69.255")])],
                          authorization=edited) as server:
        assert RawArm(server).request("DELETE", rule).status_code == 403
