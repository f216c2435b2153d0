"""infra/'s optional Azure Policy assignments, read statically (no Bicep compiler here) and checked against the
reference copy of the built-in definitions (reference/azure-policy, Azure/azure-policy at f4a50bac).
The policyAssignments@2024-04-01 type data is not vendored in reference/bicep-types, so its property names
are checked here by hand rather than by the generic type-data test."""

from __future__ import annotations

import json

from emulator.spec import REFERENCE_ROOT
from tests.infra import bicep

MODULE = "modules/redis-policies.bicep"
POLICIES = REFERENCE_ROOT / "azure-policy"


def _definitions() -> dict[str, dict]:
    out = {}
    for path in POLICIES.glob("*.json"):
        doc = json.loads(path.read_text())
        out[doc["name"]] = doc.get("properties", doc)
    return out


def test_each_assignment_names_a_redis_built_in_with_an_effect_it_allows() -> None:
    refs = _definitions()
    items = bicep.variable(MODULE, "definitions")
    assert {i["id"] for i in items} == {
        "22bee202-a82f-4305-9a2a-6d7f44d4dedb", "470baccb-7e51-4549-8b1a-3e5be069f663",
        "3827af20-8f80-4b15-8300-6db0873ec901", "09aa11bb-87ec-409f-bf0b-49b7c1561a87",
        "7803067c-7d34-46e3-8c79-0ca68fc4036d", "960e650e-9ce3-4316-9590-8ee2c016ca2f"}
    for item in items:
        ref = refs[item["id"]]
        assert ref["displayName"] == item["name"]
        allowed = set(ref["parameters"]["effect"]["allowedValues"])
        if item["effect"] == "policyMode":
            assert {"Audit", "Deny"} <= allowed, item["id"]
        else:
            assert item["effect"] in allowed and "Deny" not in allowed, item["id"]
        assert not {"Modify", "DeployIfNotExists"} & allowed  # never a built-in that writes the warden's fields


def test_audit_by_default_deny_opt_in_and_a_switch_to_turn_them_off() -> None:
    main = bicep.parsed("main.bicep")
    param = main["parameters"]["policyMode"]
    assert param["default"] == "Audit"
    allowed = next(d for d in param["decorators"] if d["type"] == "allowed")["argument"]
    assert allowed == ["Off", "Audit", "Deny"]
    module = main["modules"]["policies"]["config"]
    assert module["condition"] == {"operator": {"type": "not_equals",
                                                "operands": {"operand_1": "policyMode", "operand_2": "Off"}}}
    assert module["loop_type"]["detail"]["array_name"] == "targetSubscriptions"
    assert module["config"]["params"] == {"policyMode": "policyMode"}
    inner = bicep.parsed(MODULE)["parameters"]["policyMode"]
    assert next(d for d in inner["decorators"] if d["type"] == "allowed")["argument"] == ["Audit", "Deny"]
    assert "WARDEN_POLICY_MODE=Audit" in (bicep.INFRA / "main.parameters.json").read_text()


def test_assignment_body_uses_only_policy_assignment_properties() -> None:
    res = bicep.one("Microsoft.Authorization/policyAssignments", MODULE)
    assert res.api_version == "2024-04-01"
    props = res.config["properties"]
    assert set(props) <= {"displayName", "description", "policyDefinitionId", "enforcementMode", "parameters",
                          "nonComplianceMessages", "metadata", "notScopes", "overrides", "resourceSelectors"}
    assert props["enforcementMode"] == "Default"
    assert set(props["parameters"]) == {"effect"}
