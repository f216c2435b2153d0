"""The warden's custom roles in infra/: no wildcards, each at the scope it is needed at, every action one
of Microsoft's published operations. That the roles are enough (and what a missing action does) is shown by
the emulator enforcing them in every test (emulator/authorization.py, tests/emulator/test_emulator_authorization.py)."""

from __future__ import annotations

import pytest

from emulator.authorization import (
    ACTION_GROUP_LINKED_ACTION,
    WORKSPACE_LINKED_ACTION,
    UnmappedRequest,
    checks_for,
    published_operations,
)

from . import bicep, roles


def _lower(actions: object) -> set[str]:
    return {str(a).lower() for a in actions}  # type: ignore[attr-defined]


def test_every_role_action_is_a_published_operation_listed_once() -> None:
    declared = roles.arm_actions()
    assert len(declared) == len(_lower(declared)), "an action is listed twice"
    unknown = _lower(declared) - set(published_operations())
    assert not unknown, f"not in Microsoft's operations list (emulator/rbac_operations.json): {sorted(unknown)}"


def test_no_wildcards_and_no_not_actions_in_any_custom_role() -> None:
    for name in (*roles.ARM_ROLE_VARIABLES, *roles.DATA_ROLE_VARIABLES):
        for action in roles.role_actions(name):
            assert "*" not in action, f"{name}: {action}"
    role = bicep.one("Microsoft.Authorization/roleDefinitions").config["properties"]["permissions"][0]
    assert role["notActions"] == [] and role["notDataActions"] == []


def test_workspace_shared_keys_are_granted_on_the_workspace_only() -> None:
    remediator = _lower(roles.role_actions("remediatorActions"))
    assert not any(a.startswith("microsoft.operationalinsights/") for a in remediator)
    assert roles.role_actions("workspaceLinkerActions") == [WORKSPACE_LINKED_ACTION]
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
ACTION_GROUP = f"{SUB}/resourceGroups/rg/providers/microsoft.insights/actionGroups/ag"


@pytest.mark.parametrize(
    ("method", "path", "body", "expected"),
    [
        ("GET", CACHE, None, {"Microsoft.Cache/Redis/read"}),
        ("PATCH", CACHE, {"properties": {}}, {"Microsoft.Cache/Redis/write"}),
        ("GET", f"{SUB}/providers/Microsoft.Cache/Redis", None, {"Microsoft.Cache/Redis/read"}),
        ("DELETE", f"{CACHE}/firewallRules/office", None, {"Microsoft.Cache/Redis/firewallRules/delete"}),
        ("POST", f"{CACHE}/listKeys", None, {"Microsoft.Cache/Redis/listKeys/action"}),
        ("GET", f"{SUB}/providers/Microsoft.Cache/locations/UK South/asyncOperations/abc", None,
         {"Microsoft.Cache/locations/asyncOperations/read"}),
        ("GET", f"{CACHE}/providers/Microsoft.Insights/diagnosticSettingsCategories", None,
         {"Microsoft.Insights/diagnosticSettingsCategories/read"}),
        ("PUT", f"{CACHE}/providers/Microsoft.Insights/diagnosticSettings/warden",
         {"properties": {"workspaceId": WORKSPACE}},
         {"Microsoft.Insights/diagnosticSettings/write", WORKSPACE_LINKED_ACTION}),
        ("PUT", f"{CACHE}/providers/Microsoft.Insights/diagnosticSettings/warden", {"properties": {"logs": []}},
         {"Microsoft.Insights/diagnosticSettings/write"}),
        ("PUT", f"{SUB}/resourceGroups/rg/providers/Microsoft.Insights/metricAlerts/a",
         {"properties": {"actions": [{"actionGroupId": ACTION_GROUP}]}},
         {"Microsoft.Insights/metricAlerts/write", ACTION_GROUP_LINKED_ACTION}),
    ],
)
def test_requests_map_to_the_rbac_actions_arm_checks(method: str, path: str, body: object, expected: set[str]) -> None:
    assert _lower(c.action for c in checks_for(method, path, body)) == _lower(expected)


def test_a_path_without_a_provider_or_an_unpublished_operation_cannot_be_mapped() -> None:
    with pytest.raises(UnmappedRequest):
        checks_for("GET", f"{SUB}/resourceGroups/rg", None)
    with pytest.raises(UnmappedRequest):
        checks_for("GET", f"{SUB}/providers/Microsoft.Cache/locations/uksouth/madeUpOperations/abc", None)
