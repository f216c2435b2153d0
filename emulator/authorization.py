"""ARM's authorization of the warden's requests, against the custom roles `infra/` deploys.

ARM checks every request against the caller's role assignments before the resource provider sees it: the
operation is `<namespace>/<type>[/<child type>...]/<read|write|delete>` for GET / PUT+PATCH / DELETE and
`.../<name>/action` for POST, named after the resource type that follows the LAST `/providers/` of the path
(an extension resource such as a diagnostic setting on a cache is `Microsoft.Insights/diagnosticSettings/...`).
Some writes also need a permission on a resource the body points at (ARM's "linked" checks).

The roles are read from `infra/main.bicep` and its modules, not from the warden's code, so a role that lacks
an action really gets refused: every `modules/custom-role.bicep` module with an `actions` list is a role; a
module that receives `<role>.outputs.roleGuid` and declares a `Microsoft.Authorization/roleAssignments` is
where it is assigned (at the module's subscription, or on the `existing` resource its `scope:` names, e.g.
one workspace). Adding an action or a role in infra/ is all another feature needs; every operation the
emulator can map a request to must also be in Microsoft's published operations list (`rbac_operations.json`).

Refusals are ARM's: 403 `AuthorizationFailed` with the message ARM writes (quoted in
microsoft/azure-tools-for-java#4737; tests/conformance/fixtures/authorization_failed.json), and 403
`LinkedAuthorizationFailed` for a linked check, worded as ARM words it (quoted in Azure/aad-pod-identity#613,
several linked scopes joined by ',' as in Azure/aad-pod-identity#339;
tests/conformance/fixtures/linked_authorization_failed.json).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from .errors import ArmHttpError

INFRA_ENV = "WARDEN_INFRA_DIR"
DEFAULT_INFRA = Path(__file__).resolve().parents[1] / "infra"
OPERATIONS_FILE = Path(__file__).with_name("rbac_operations.json")
_VERBS = {"GET": "read", "HEAD": "read", "PUT": "write", "PATCH": "write", "DELETE": "delete"}
WORKSPACE_LINKED_ACTION = "Microsoft.OperationalInsights/workspaces/sharedKeys/action"
ACTION_GROUP_LINKED_ACTION = "Microsoft.Insights/actionGroups/read"
# A Resource Graph query is a tenant-level POST authorised as a read (Microsoft's operations list names only
# `resources/read` for it); emulator.server checks it, and ARG returns only rows the caller may read.
GRAPH_READ_ACTION = "Microsoft.ResourceGraph/resources/read"


class UnmappedRequest(ValueError):
    """A request whose RBAC operation cannot be derived from its path, or is not a published operation."""


@dataclass(frozen=True)
class Grant:
    """One role assignment: the role's actions (lower-cased) at a scope. `resource_type` None: everywhere the
    warden is assigned (its subscriptions); otherwise only on resources of that type (e.g. one workspace)."""

    role: str
    actions: frozenset[str]
    resource_type: str | None = None

    def allows(self, action: str, scope: str) -> bool:
        if action.lower() not in self.actions:
            return False
        return self.resource_type is None or _is_resource_of_type(scope, self.resource_type)


@dataclass(frozen=True)
class Check:
    """One permission ARM checks for a request: `linked` ones are on a resource the body names."""

    action: str
    scope: str
    linked: bool = False


@dataclass(frozen=True)
class Authorization:
    """The grants of one principal; `checks` says what a request needs, `authorize` refuses as ARM does."""

    grants: tuple[Grant, ...]

    @classmethod
    def from_infra(cls, infra: Path | None = None) -> Authorization:
        return cls(load_grants(infra or Path(os.environ.get(INFRA_ENV) or DEFAULT_INFRA)))

    def without(self, *actions: str) -> Authorization:
        """The same roles less some actions (tests prove a missing action is refused)."""
        drop = {a.lower() for a in actions}
        return Authorization(tuple(Grant(g.role, g.actions - drop, g.resource_type) for g in self.grants))

    def allows(self, action: str, scope: str) -> bool:
        return any(g.allows(action, scope) for g in self.grants)

    def authorize(self, method: str, path: str, body: Any, client: str, object_id: str) -> None:
        checks = checks_for(method, path, body)
        primary = [c for c in checks if not c.linked]
        for check in primary:
            if not self.allows(check.action, check.scope):
                raise authorization_failed(client, object_id, check.action, check.scope)
        refused = [c for c in checks if c.linked and not self.allows(c.action, c.scope)]
        if refused:
            # ARM names one linked action and every scope it was refused on, joined by ','.
            action = refused[0].action
            scopes = [c.scope for c in refused if c.action == action]
            raise linked_authorization_failed(client, object_id, primary[0], action, scopes)


def operation_for(method: str, path: str) -> str:
    """The RBAC operation ARM checks for this request, validated against Microsoft's operations list."""
    segments = [s for s in path.split("?", 1)[0].split("/") if s]
    lowered = [s.lower() for s in segments]
    positions = [i for i, s in enumerate(lowered) if s == "providers" and i + 1 < len(segments)]
    if not positions:
        raise UnmappedRequest(f"{method} {path}: no /providers/ segment to take a resource type from")
    start = positions[-1]
    namespace = segments[start + 1]
    rest = segments[start + 2:]
    if not rest:
        raise UnmappedRequest(f"{method} {path}: no resource type after the namespace")
    types = rest[0::2]
    verb = method.upper()
    if verb == "POST":
        if len(rest) % 2 == 0:
            raise UnmappedRequest(f"{method} {path}: a POST names an action after a resource")
        action = "/".join([namespace, *types]) + "/action"
    elif verb in _VERBS:
        action = "/".join([namespace, *types]) + "/" + _VERBS[verb]
    else:
        raise UnmappedRequest(f"{method} {path}: no RBAC verb for this method")
    if action.lower() not in published_operations():
        raise UnmappedRequest(f"{method} {path}: {action} is not in Microsoft's operations list "
                              f"({OPERATIONS_FILE.name})")
    return action


def scope_of(path: str) -> str:
    """The scope ARM names in a refusal: the resource itself, or for a list directly under a subscription or
    resource group (`.../providers/NS/type`), that subscription or resource group."""
    bare = path.split("?", 1)[0].rstrip("/")
    segments = bare.split("/")
    lowered = [s.lower() for s in segments]
    if "providers" in lowered:
        last = len(lowered) - 1 - lowered[::-1].index("providers")
        after = segments[last + 1:]
        if len(after) == 2 and last in (3, 5) and lowered[1] == "subscriptions":
            return "/".join(segments[:last])
    return bare


def checks_for(method: str, path: str, body: Any) -> list[Check]:
    """The operation itself plus the linked checks ARM makes on resources a write's body points at: a
    diagnostic setting's destination workspace (design section 6) and a metric alert's action groups
    (Azure Monitor's documented prerequisite for alerts that notify a group)."""
    action = operation_for(method, path)
    target = path.split("?", 1)[0].rstrip("/")
    if method.upper() == "POST":
        target = target.rsplit("/", 1)[0]  # an action's scope is the resource it acts on
    checks = [Check(action, scope_of(target))]
    if method.upper() not in ("PUT", "PATCH") or not isinstance(body, Mapping):
        return checks
    props = body.get("properties") if isinstance(body.get("properties"), Mapping) else {}
    if action.lower() == "microsoft.insights/diagnosticsettings/write" and isinstance(props.get("workspaceId"), str):
        checks.append(Check(WORKSPACE_LINKED_ACTION, props["workspaceId"], linked=True))
    if action.lower() == "microsoft.insights/metricalerts/write":
        for item in props.get("actions") or ():
            group = item.get("actionGroupId") if isinstance(item, Mapping) else None
            if isinstance(group, str):
                checks.append(Check(ACTION_GROUP_LINKED_ACTION, group, linked=True))
    return checks


def authorization_failed(client: str, object_id: str, action: str, scope: str) -> ArmHttpError:
    return ArmHttpError(
        403, "AuthorizationFailed",
        f"The client '{client}' with object id '{object_id}' does not have authorization to perform action "
        f"'{action}' over scope '{scope}' or the scope is invalid. If access was recently granted, please "
        "refresh your credentials.",
    )


def linked_authorization_failed(client: str, object_id: str, primary: Check, action: str,
                                scopes: Iterable[str]) -> ArmHttpError:
    return ArmHttpError(
        403, "LinkedAuthorizationFailed",
        f"The client '{client}' with object id '{object_id}' has permission to perform action "
        f"'{primary.action}' on scope '{primary.scope}'; however, it does not have permission to perform "
        f"action '{action}' on the linked scope(s) '{','.join(scopes)}' or the linked scope(s) are invalid.",
    )


@cache
def published_operations() -> frozenset[str]:
    data = json.loads(OPERATIONS_FILE.read_text(encoding="utf-8"))
    return frozenset(op.lower() for group in data["operations"].values() for op in group)


# ---------------------------------------------------------------------------------------------- infra/


def load_grants(infra: Path) -> tuple[Grant, ...]:
    """Every ARM custom role in main.bicep with where it is assigned (see the module docstring)."""
    from pycep import BicepParser  # a development dependency, like the emulator itself

    parser = BicepParser()
    main = parser.parse(file_path=infra / "main.bicep")
    variables = main.get("variables") or {}
    modules = main.get("modules") or {}
    roles: dict[str, frozenset[str]] = {}
    for symbol, module in modules.items():
        if str(module.get("detail", {}).get("path", "")).endswith("custom-role.bicep"):
            params = _config(module).get("params") or {}
            name = params.get("actions")
            if isinstance(name, str) and name in variables:
                actions = variables[name]["value"]
                if actions:
                    roles[symbol] = frozenset(str(a).lower() for a in actions)
    grants: list[Grant] = []
    for module in modules.values():
        params = _config(module).get("params") or {}
        for param, value in params.items():
            role = _role_output(value)
            if role not in roles:
                continue
            path = infra / str(module["detail"]["path"])
            for resource_type in _assignment_scopes(parser.parse(file_path=path), param):
                grants.append(Grant(role, roles[role], resource_type))
    return tuple(grants)


def _config(module: Mapping[str, Any]) -> Mapping[str, Any]:
    cfg = module.get("config") or {}
    if "config" in cfg and ("condition" in cfg or "loop_type" in cfg):
        cfg = cfg["config"]
    return cfg


def _role_output(value: Any) -> str | None:
    """`<role>.outputs.roleGuid` as pycep writes it, or None."""
    try:
        operands = value["operator"]["operands"]
        inner = operands["operand_2"]["operator"]["operands"]
    except (KeyError, TypeError):
        return None
    if inner.get("operand_1") == "outputs" and inner.get("operand_2") == "roleGuid":
        return str(operands["operand_1"])
    return None


def _assignment_scopes(doc: Mapping[str, Any], role_param: str) -> Iterable[str | None]:
    """For each role assignment in a module that uses `role_param`: the type of the `existing` resource its
    `scope:` names, or None when it is assigned at the module's own (subscription) scope."""
    resources = doc.get("resources") or {}
    for res in resources.values():
        if str(res.get("type", "")).lower() != "microsoft.authorization/roleassignments":
            continue
        cfg = _config(res)
        if role_param not in json.dumps(cfg.get("properties"), default=str):
            continue
        scope = cfg.get("scope")
        target = resources.get(scope) if isinstance(scope, str) else None
        yield str(target["type"]) if target else None


def _is_resource_of_type(scope: str, resource_type: str) -> bool:
    namespace, _, type_path = resource_type.partition("/")
    segments = [s for s in scope.split("?", 1)[0].split("/") if s]
    lowered = [s.lower() for s in segments]
    types = [t.lower() for t in type_path.split("/")]
    for i, segment in enumerate(lowered):
        if segment == "providers" and i + 1 < len(lowered) and lowered[i + 1] == namespace.lower():
            rest = lowered[i + 2:]
            return rest[0::2][: len(types)] == types and len(rest) >= 2 * len(types)
    return False
