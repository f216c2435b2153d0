"""Static reading of infra/*.bicep (no Bicep compiler can be installed here): pycep-parser turns each file
into JSON, and the vendored Bicep type data (reference/bicep-types) says which `type@apiVersion` exist and
which property names each type has."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from pycep import BicepParser

from emulator.spec import REFERENCE_ROOT

ROOT = Path(__file__).resolve().parents[2]
INFRA = ROOT / "infra"
BICEP_TYPES = REFERENCE_ROOT / "bicep-types" / "generated"

# Keys in a resource body that are Bicep keywords, not ARM properties.
BICEP_KEYWORDS = frozenset({"parent", "scope", "dependsOn"})
# pycep's shape for an expression (as opposed to an object literal).
EXPRESSION_KEYS = frozenset({"function", "operator", "loop_type", "interpolation", "property_name"})


@dataclass(frozen=True)
class Resource:
    file: str  # relative to infra/
    symbol: str
    type: str
    api_version: str
    existing: bool
    config: Mapping[str, Any]
    condition: Any = None


def bicep_files() -> list[Path]:
    return sorted(INFRA.rglob("*.bicep"))


@cache
def parse(path: Path) -> dict[str, Any]:
    return BicepParser().parse(file_path=path)


def parsed(name: str) -> dict[str, Any]:
    return parse(INFRA / name)


def resources() -> list[Resource]:
    out: list[Resource] = []
    for path in bicep_files():
        doc = parse(path)
        for symbol, res in (doc.get("resources") or {}).items():
            cfg = res["config"]
            condition = None
            if isinstance(cfg, Mapping) and "config" in cfg and ("condition" in cfg or "loop_type" in cfg):
                condition = cfg.get("condition")
                cfg = cfg["config"]
            out.append(Resource(str(path.relative_to(INFRA)), symbol, res["type"], res["api_version"],
                                bool(res.get("existing")), cfg, condition))
    return out


def of_type(type_name: str, *, existing: bool = False) -> list[Resource]:
    return [r for r in resources() if r.type.lower() == type_name.lower() and r.existing == existing]


def one(type_name: str, file: str | None = None) -> Resource:
    found = [r for r in of_type(type_name) if file is None or r.file == file]
    assert len(found) == 1, f"expected one {type_name}{' in ' + file if file else ''}, found {len(found)}"
    return found[0]


def variable(file: str, name: str) -> Any:
    return parsed(file)["variables"][name]["value"]


def is_expression(value: Any) -> bool:
    return isinstance(value, Mapping) and bool(set(value) & EXPRESSION_KEYS)


def module_config(file: str, symbol: str) -> Mapping[str, Any]:
    cfg = parsed(file)["modules"][symbol]["config"]
    if "config" in cfg and ("condition" in cfg or "loop_type" in cfg):
        cfg = cfg["config"]
    return cfg


# ---------------------------------------------------------------------------------------------- type data


@cache
def type_index() -> dict[str, str]:
    data = json.loads((BICEP_TYPES / "index.json").read_text(encoding="utf-8"))
    return {key.lower(): ref["$ref"] for key, ref in data["resources"].items()}


@cache
def _types_file(relative: str) -> list[Any] | None:
    path = BICEP_TYPES / relative
    if not path.exists():
        return None
    return json.loads(path.read_text(encoding="utf-8"))


def resource_body_type(type_name: str, api_version: str) -> tuple[list[Any], Mapping[str, Any]] | None:
    """(types array, body ObjectType) when the types.json for this type@version is vendored, else None."""
    ref = type_index()[f"{type_name}@{api_version}".lower()]
    relative, _, pointer = ref.partition("#/")
    types = _types_file(relative)
    if types is None:
        return None
    resource_type = types[int(pointer)]
    return types, _deref(types, resource_type["body"])


def _deref(types: list[Any], node: Mapping[str, Any]) -> Mapping[str, Any]:
    while "$ref" in node:
        node = types[int(str(node["$ref"]).rsplit("/", 1)[-1])]
    return node


def unknown_properties(types: list[Any], type_node: Mapping[str, Any], value: Any, where: str) -> Iterator[str]:
    """Property names in `value` (an object literal from Bicep) that the type does not declare."""
    node = _deref(types, type_node)
    kind = node.get("$type")
    if is_expression(value) or value is None:
        return
    if kind == "ArrayType" and isinstance(value, list):
        for i, item in enumerate(value):
            yield from unknown_properties(types, node["itemType"], item, f"{where}[{i}]")
        return
    if kind == "DiscriminatedObjectType" and isinstance(value, Mapping):
        key = node["discriminator"]
        chosen = value.get(key)
        props = dict(node.get("baseProperties") or {})
        if isinstance(chosen, str) and chosen in node["elements"]:
            props.update(_deref(types, node["elements"][chosen]).get("properties") or {})
        yield from _check_object(types, props, value, where)
        return
    if kind == "ObjectType" and isinstance(value, Mapping):
        props = dict(node.get("properties") or {})
        if not props and node.get("additionalProperties"):
            return  # a map (tags, userAssignedIdentities): any key
        yield from _check_object(types, props, value, where)


def _check_object(types: list[Any], props: Mapping[str, Any], value: Mapping[str, Any], where: str) -> Iterator[str]:
    lowered = {k.lower(): v for k, v in props.items()}
    for key, item in value.items():
        if key in BICEP_KEYWORDS and where == "":
            continue
        prop = lowered.get(key.lower())
        if prop is None:
            yield f"{where}.{key}".lstrip(".")
            continue
        yield from unknown_properties(types, prop["type"], item, f"{where}.{key}")
