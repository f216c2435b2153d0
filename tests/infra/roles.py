"""The warden's ARM permissions as infra/main.bicep declares them (custom role action lists)."""

from __future__ import annotations

from . import bicep

# Custom roles the warden's identity holds for ARM (control-plane) actions, and where each is assigned.
ARM_ROLE_VARIABLES = ("remediatorActions", "workspaceLinkerActions")
DATA_ROLE_VARIABLES = ("signerDataActions", "keyReaderDataActions")


def role_actions(variable: str) -> list[str]:
    value = bicep.variable("main.bicep", variable)
    assert isinstance(value, list) and all(isinstance(a, str) for a in value), f"{variable} must be a literal list"
    return value


def arm_actions() -> list[str]:
    return [a for name in ARM_ROLE_VARIABLES for a in role_actions(name)]
