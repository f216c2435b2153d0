"""The warden's custom roles hold exactly what the gateway does (plain check; the evidence check over the
whole test run is `session_check.py`), split by the scope each action is needed at."""

from __future__ import annotations

import pytest

from remediators.arm.gateway import Gateway

from . import bicep, evidence, roles


def _lower(actions: object) -> set[str]:
    return {str(a).lower() for a in actions}  # type: ignore[attr-defined]


def test_custom_roles_equal_the_gateway_actions() -> None:
    declared = roles.arm_actions()
    assert len(declared) == len(_lower(declared)), "an action is listed twice"
    expected = _lower(Gateway.ACTIONS)
    assert _lower(declared) == expected, (
        f"missing from infra/main.bicep: {sorted(expected - _lower(declared))}; "
        f"not in Gateway.ACTIONS: {sorted(_lower(declared) - expected)}"
    )


def test_no_wildcards_and_no_not_actions_in_any_custom_role() -> None:
    for name in (*roles.ARM_ROLE_VARIABLES, *roles.DATA_ROLE_VARIABLES):
        for action in roles.role_actions(name):
            assert "*" not in action, f"{name}: {action}"
    role = bicep.one("Microsoft.Authorization/roleDefinitions").config["properties"]["permissions"][0]
    assert role["notActions"] == [] and role["notDataActions"] == []


def test_workspace_shared_keys_are_granted_on_the_workspace_only() -> None:
    remediator = _lower(roles.role_actions("remediatorActions"))
    assert not any(a.startswith("microsoft.operationalinsights/") for a in remediator)
    assert roles.role_actions("workspaceLinkerActions") == [evidence.WORKSPACE_LINKED_ACTION]
    linker = bicep.one("Microsoft.Authorization/roleAssignments", "modules/workspace-access.bicep").config
    assert linker["scope"] == "workspace"
    module = bicep.module_config("main.bicep", "workspaceAccess")
    assert module["params"]["roleGuid"]["operator"]["operands"]["operand_1"] == "workspaceLinkerRole"


def test_remediator_role_is_assigned_at_each_target_subscription() -> None:
    targets = bicep.parsed("main.bicep")["modules"]["targets"]["config"]
    assert targets["loop_type"]["detail"]["array_name"] == "targetSubscriptions"
    scope = {"function": {"type": "subscription", "parameters": {"subscription_id": "sub"}}}
    assert targets["config"]["scope"] == scope
    assignment = bicep.one("Microsoft.Authorization/roleAssignments", "modules/target-subscription.bicep").config
    assert "scope" not in assignment  # the module's scope: the subscription itself
    role = bicep.module_config("main.bicep", "remediatorRole")["params"]
    assert role["actions"] == "remediatorActions"


# ---------------------------------------------------------------------------------------------- mapping

SUB = "/subscriptions/6f1c7e3a-2b4d-4c1e-9f3a-0d2b8e5a7c11"
CACHE = f"{SUB}/resourceGroups/rg/providers/Microsoft.Cache/Redis/c1"
WORKSPACE = f"{SUB}/resourceGroups/rg/providers/Microsoft.OperationalInsights/workspaces/w"


@pytest.mark.parametrize(
    ("method", "path", "body", "expected"),
    [
        ("GET", CACHE, None, {"Microsoft.Cache/Redis/read"}),
        ("PATCH", CACHE, {"properties": {}}, {"Microsoft.Cache/Redis/write"}),
        ("GET", f"{SUB}/providers/Microsoft.Cache/Redis", None, {"Microsoft.Cache/Redis/read"}),
        ("DELETE", f"{CACHE}/firewallRules/office", None, {"Microsoft.Cache/Redis/firewallRules/delete"}),
        ("POST", f"{CACHE}/listKeys", None, {"Microsoft.Cache/Redis/listKeys/action"}),
        ("GET", f"{SUB}/providers/Microsoft.Cache/locations/uksouth/operationResults/abc", None,
         {"Microsoft.Cache/locations/operationResults/read"}),
        ("GET", f"{CACHE}/providers/Microsoft.Insights/diagnosticSettingsCategories", None,
         {"Microsoft.Insights/diagnosticSettingsCategories/read"}),
        ("PUT", f"{CACHE}/providers/Microsoft.Insights/diagnosticSettings/warden",
         {"properties": {"workspaceId": WORKSPACE}},
         {"Microsoft.Insights/diagnosticSettings/write", evidence.WORKSPACE_LINKED_ACTION}),
        ("PUT", f"{CACHE}/providers/Microsoft.Insights/diagnosticSettings/warden", {"properties": {"logs": []}},
         {"Microsoft.Insights/diagnosticSettings/write"}),
    ],
)
def test_requests_map_to_the_rbac_actions_arm_checks(method: str, path: str, body: object, expected: set[str]) -> None:
    assert _lower(evidence.rbac_actions(method, path, body)) == _lower(expected)


def test_a_path_without_a_provider_cannot_be_mapped() -> None:
    with pytest.raises(evidence.UnmappedRequest):
        evidence.rbac_actions("GET", f"{SUB}/resourceGroups/rg", None)


def test_only_the_wardens_sdk_requests_count_as_evidence() -> None:
    from emulator.principals import JANE, WARDEN

    base = {"method": "GET", "path": CACHE, "status": 200, "user_agent": "azsdk-python-mgmt-redis/14.5.0 Python"}
    warden = {**base, "caller": {"appid": WARDEN.client_id}}
    assert evidence.is_warden_request(warden)
    assert not evidence.is_warden_request({**warden, "user_agent": "python-requests/2.32"})  # RawArm in tests
    assert not evidence.is_warden_request({**base, "caller": {"appid": JANE.client_id}})  # a person's drift
    assert not evidence.is_warden_request({**warden, "status": 401})
    assert [o.action for o in evidence.observe([warden])] == ["Microsoft.Cache/Redis/read"]
