"""A small evaluator for the subset of the Azure Policy language the Redis property policies use.

Enough to decide whether a built-in definition flags a given cache document, so that tests can check our
rules are never laxer. Supported, with Azure Policy's semantics:
- logical operators `allOf`, `anyOf`, `not`;
- `field` on `type`, `name`, `location`, `id`, `kind` and on aliases (mapped to property paths below);
- conditions `equals`, `notEquals`, `in`, `notIn`, `exists`; string comparison is case-insensitive, a
  JSON boolean compares as "true"/"false", and a missing or null field equals nothing (so `notEquals` is
  true for it, which is why an absent `publicNetworkAccess` is flagged);
- template expressions: `[parameters('x')]` (definition defaults) and
  `[greaterOrEquals(requestContext().apiVersion, 'yyyy-mm-dd')]` in Modify operation conditions, with the
  request's api-version passed in explicitly. Anything else raises, so a definition that grows beyond this
  subset fails the test loudly instead of being half-understood.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# Alias -> path under the resource body (case-insensitive alias names, as in Azure Policy).
ALIASES = {
    "microsoft.cache/redis/enablenonsslport": ("properties", "enableNonSslPort"),
    "microsoft.cache/redis/publicnetworkaccess": ("properties", "publicNetworkAccess"),
    "microsoft.cache/redis/disableaccesskeyauthentication": ("properties", "disableAccessKeyAuthentication"),
    "microsoft.cache/redis/minimumtlsversion": ("properties", "minimumTlsVersion"),
}
TOP_LEVEL_FIELDS = {"type", "name", "location", "id", "kind"}
_PARAM = re.compile(r"^\[parameters\('([A-Za-z0-9_]+)'\)\]$")
_API_GE = re.compile(r"^\[greaterOrEquals\(requestContext\(\)\.apiVersion,\s*'([0-9]{4}-[0-9]{2}-[0-9]{2}[^']*)'\)\]$")


class UnsupportedPolicy(ValueError):
    """The definition uses something outside the supported subset."""


_ABSENT = object()


def _lookup(body: Mapping[str, Any], path: tuple[str, ...]) -> Any:
    node: Any = body
    for part in path:
        if not isinstance(node, Mapping):
            return _ABSENT
        match = next((k for k in node if isinstance(k, str) and k.lower() == part.lower()), None)
        if match is None:
            return _ABSENT
        node = node[match]
    return node


def field_value(body: Mapping[str, Any], field: str) -> Any:
    if field.lower() in TOP_LEVEL_FIELDS:
        return _lookup(body, (field,))
    path = ALIASES.get(field.lower())
    if path is None:
        raise UnsupportedPolicy(f"alias {field!r} is not mapped")
    return _lookup(body, path)


def _norm(value: Any) -> Any:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value.lower()
    return value


def _equals(actual: Any, expected: Any) -> bool:
    if actual is _ABSENT or actual is None:
        return False
    return _norm(actual) == _norm(expected)


def _literal(value: Any) -> Any:
    if isinstance(value, str) and value.startswith("[") and not value.startswith("[["):
        raise UnsupportedPolicy(f"expression {value!r} in a condition value")
    return value


def matches(condition: Mapping[str, Any], body: Mapping[str, Any]) -> bool:
    if "allOf" in condition:
        return all(matches(c, body) for c in condition["allOf"])
    if "anyOf" in condition:
        return any(matches(c, body) for c in condition["anyOf"])
    if "not" in condition:
        return not matches(condition["not"], body)
    if "field" not in condition:
        raise UnsupportedPolicy(f"condition {condition!r}")
    actual = field_value(body, condition["field"])
    if "equals" in condition:
        return _equals(actual, _literal(condition["equals"]))
    if "notEquals" in condition:
        return not _equals(actual, _literal(condition["notEquals"]))
    if "in" in condition:
        return any(_equals(actual, _literal(v)) for v in condition["in"])
    if "notIn" in condition:
        return not any(_equals(actual, _literal(v)) for v in condition["notIn"])
    if "exists" in condition:
        present = actual is not _ABSENT and actual is not None
        return present == (_norm(condition["exists"]) == "true")
    raise UnsupportedPolicy(f"operator in {condition!r}")


@dataclass(frozen=True)
class Definition:
    id: str
    display_name: str
    rule: Mapping[str, Any]
    parameters: Mapping[str, Any]

    @classmethod
    def load(cls, path: Path) -> Definition:
        raw = json.loads(path.read_text(encoding="utf-8"))
        props = raw.get("properties", raw)
        params = {k: v.get("defaultValue") for k, v in (props.get("parameters") or {}).items()}
        return cls(raw["name"], props["displayName"], props["policyRule"], params)

    @property
    def effect(self) -> str:
        return str(self._resolve(self.rule["then"]["effect"])).lower()

    def _resolve(self, value: Any) -> Any:
        if isinstance(value, str):
            m = _PARAM.match(value)
            if m:
                return self.parameters[m.group(1)]
            _literal(value)
        return value

    def _operation_applies(self, op: Mapping[str, Any], api_version: str) -> bool:
        cond = op.get("condition")
        if cond is None:
            return True
        m = _API_GE.match(cond)
        if m is None:
            raise UnsupportedPolicy(f"operation condition {cond!r}")
        return api_version >= m.group(1)  # ISO dates (with optional -preview) order as strings

    def flags(self, body: Mapping[str, Any], *, api_version: str) -> bool:
        """True when the definition, with its default effect, marks the resource non-compliant.

        Audit/Deny: the `if` matches. Modify: the `if` matches and at least one operation whose condition
        holds for this api-version would change the resource."""
        effect = self.effect
        if effect == "disabled" or not matches(self.rule["if"], body):
            return False
        if effect in ("audit", "deny"):
            return True
        if effect != "modify":
            raise UnsupportedPolicy(f"effect {effect!r}")
        for op in self.rule["then"]["details"]["operations"]:
            if op["operation"] != "addOrReplace":
                raise UnsupportedPolicy(f"operation {op['operation']!r}")
            if self._operation_applies(op, api_version) and not _equals(field_value(body, op["field"]), op["value"]):
                return True
        return False
