"""Generic validation of request bodies against the vendored ARM swagger (OpenAPI 2.0) files.

The emulator loads `reference/arm-specs/.../*.json` at start-up and checks every write body against the
operation's schema: JSON types, enum values, patterns, required fields, read-only fields (dropped, as ARM's
RPC says read-only properties in a request are ignored) and unknown properties (refused: stricter than most
resource providers, so a misspelt property in a PATCH fails loudly in tests instead of silently doing
nothing). The `$ref`s into Azure's `common-types`, which are not vendored, resolve to the small set of
definitions below (copied in shape from common-types v2/v4).
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import ArmHttpError, bad_request, invalid_content


def _reference_root() -> Path:
    """The shared reference folder: `WARDEN_REFERENCE_DIR`, else `reference/` in the repo, else the
    workspace's `shared/reference/` beside the repo."""
    configured = os.environ.get("WARDEN_REFERENCE_DIR")
    if configured:
        return Path(configured)
    repo = Path(__file__).resolve().parents[1]
    for candidate in (repo / "reference", repo.parent / "shared" / "reference"):
        if (candidate / "arm-specs").is_dir():
            return candidate
    return repo.parent / "shared" / "reference"


REFERENCE_ROOT = _reference_root()
REFERENCE = REFERENCE_ROOT / "arm-specs"
REDIS_SPEC = REFERENCE / "redis" / "redis.json"
DIAGNOSTIC_SETTINGS_SPEC = REFERENCE / "monitor-diagnostic-settings" / "diagnosticsSettings_API.json"

_READ_ONLY_STR = {"type": "string", "readOnly": True}
_COMMON_TYPES: dict[str, dict[str, Any]] = {
    "Resource": {"type": "object", "properties": {"id": _READ_ONLY_STR, "name": _READ_ONLY_STR,
                                                  "type": _READ_ONLY_STR, "systemData": {"readOnly": True}}},
    "ProxyResource": {"allOf": [{"$ref": "#/common/Resource"}]},
    "TrackedResource": {
        "allOf": [{"$ref": "#/common/Resource"}],
        "properties": {"location": {"type": "string"},
                       "tags": {"type": "object", "additionalProperties": {"type": "string"}}},
    },
    "ManagedServiceIdentity": {
        "type": "object",
        "required": ["type"],
        "properties": {
            "principalId": _READ_ONLY_STR,
            "tenantId": _READ_ONLY_STR,
            "type": {"type": "string",
                     "enum": ["None", "SystemAssigned", "UserAssigned", "SystemAssigned, UserAssigned"]},
            "userAssignedIdentities": {"type": "object", "additionalProperties": {"type": "object",
                                                                                  "additionalProperties": {}}},
        },
    },
    "PrivateEndpointConnection": {"type": "object", "readOnly": True, "additionalProperties": {}},
    "PrivateLinkResource": {"type": "object", "readOnly": True, "additionalProperties": {}},
    "systemData": {"type": "object", "readOnly": True, "additionalProperties": {}},
}


@dataclass(frozen=True)
class _Merged:
    properties: Mapping[str, Any]
    required: frozenset[str]
    additional: Any  # None: unknown keys refused; a schema (possibly {}): keys validated with it


class Spec:
    """One swagger document: its api-version and its definitions, with `validate` for request bodies."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.document: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
        self.api_version: str = self.document["info"]["version"]
        self.definitions: dict[str, Any] = self.document.get("definitions", {})

    # ------------------------------------------------------------------------------------------ refs

    def _resolve(self, schema: Mapping[str, Any]) -> Mapping[str, Any]:
        seen = 0
        while "$ref" in schema:
            ref: str = schema["$ref"]
            name = ref.rsplit("/", 1)[-1]
            if ref.startswith("#/definitions/"):
                schema = self.definitions[name]
            elif ref.startswith("#/common/") or "common-types" in ref:
                schema = _COMMON_TYPES.get(name, {"type": "object", "additionalProperties": {}})
            else:
                raise KeyError(f"unresolvable $ref {ref!r} in {self.path.name}")
            seen += 1
            if seen > 32:
                raise RecursionError(f"$ref cycle at {ref!r}")
        return schema

    def _merge(self, schema: Mapping[str, Any]) -> _Merged:
        schema = self._resolve(schema)
        properties: dict[str, Any] = {}
        required: set[str] = set(schema.get("required", ()))
        additional = schema.get("additionalProperties")
        for part in schema.get("allOf", ()):
            merged = self._merge(part)
            properties.update(merged.properties)
            required |= merged.required
            if additional is None:
                additional = merged.additional
        properties.update(schema.get("properties", {}))
        if additional is True:
            additional = {}
        return _Merged(properties, frozenset(required), additional)

    # ------------------------------------------------------------------------------------------ validate

    def validate(self, definition: str, body: Any) -> Any:
        """The body with read-only properties removed, or ArmHttpError(400) naming the offending field."""
        return self._value({"$ref": f"#/definitions/{definition}"}, body, "")

    def _value(self, schema: Mapping[str, Any], value: Any, path: str) -> Any:
        schema = self._resolve(schema)
        kind = schema.get("type") or ("object" if "properties" in schema or "allOf" in schema else None)
        if kind == "object":
            return self._object(schema, value, path)
        if kind == "array":
            if not isinstance(value, list):
                raise invalid_content(f"'{path}' must be an array.", target=path)
            items = schema.get("items", {})
            return [self._value(items, item, f"{path}[{i}]") for i, item in enumerate(value)]
        if kind == "string":
            if not isinstance(value, str):
                raise invalid_content(f"'{path}' must be a string.", target=path)
            enum = schema.get("enum")
            if enum is not None and value not in enum:
                allowed = ", ".join(f"'{e}'" for e in enum)
                raise bad_request(f"The value '{value}' of '{path}' is invalid. Allowed values: {allowed}.", path)
            pattern = schema.get("pattern")
            if pattern is not None and not re.search(pattern, value):
                raise bad_request(f"The value '{value}' of '{path}' does not match the pattern '{pattern}'.", path)
            return value
        if kind == "boolean":
            if not isinstance(value, bool):
                raise invalid_content(f"'{path}' must be a boolean.", target=path)
            return value
        if kind == "integer":
            if isinstance(value, bool) or not isinstance(value, int):
                raise invalid_content(f"'{path}' must be an integer.", target=path)
            minimum = schema.get("minimum")
            if minimum is not None and value < minimum:
                raise bad_request(f"'{path}' must be at least {minimum}.", path)
            return value
        if kind == "number":
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise invalid_content(f"'{path}' must be a number.", target=path)
            return value
        return value

    def _object(self, schema: Mapping[str, Any], value: Any, path: str) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise invalid_content(f"'{path or 'body'}' must be a JSON object.", target=path or None)
        merged = self._merge(schema)
        out: dict[str, Any] = {}
        for key, item in value.items():
            child = f"{path}.{key}" if path else key
            prop = merged.properties.get(key)
            if prop is not None:
                resolved = self._resolve(prop)
                if prop.get("readOnly") or resolved.get("readOnly"):
                    continue  # ARM ignores read-only properties sent in a request
                out[key] = self._value(prop, item, child)
            elif merged.additional is not None:
                out[key] = self._value(merged.additional, item, child)
            else:
                raise bad_request(f"Could not find member '{key}' on object of type '{path or 'body'}'.", child)
        for key in sorted(merged.required):
            if key not in value:
                child = f"{path}.{key}" if path else key
                raise bad_request(f"The required property '{child}' is missing.", child)
        return out


def load_specs() -> dict[str, Spec]:
    """Both specs the emulator serves, loaded once per server."""
    return {"redis": Spec(REDIS_SPEC), "diagnosticSettings": Spec(DIAGNOSTIC_SETTINGS_SPEC)}


def parse_json(raw: bytes) -> Any:
    """Request body bytes -> JSON, refused as ARM does when it cannot be read."""
    try:
        return json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise invalid_content(str(exc)) from exc


__all__ = ["ArmHttpError", "Spec", "load_specs", "parse_json"]
