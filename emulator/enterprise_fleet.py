"""Azure Managed Redis entries of a fleet file: clusters (`type: Microsoft.Cache/redisEnterprise`) with their
databases beside `properties`.

A cluster entry is the cluster's GET body plus `databases` (database GET bodies, each optionally with its own
`diagnosticSettings` and `accessPolicyAssignments` list items beside `properties`) and `x-emulator` knobs.
The shape is checked by `fleet.schema.json` (shared with the Azure Cache for Redis entries, which `fleet.py`
loads); this module checks what a schema cannot and splits each entry into a `ClusterSeed`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .fleet import FleetError, validate_fleet

CLUSTER_TYPE = "Microsoft.Cache/redisEnterprise"
CLUSTER_ID = re.compile(
    r"^/subscriptions/(?P<sub>[0-9a-fA-F-]{36})/resourceGroups/(?P<rg>[A-Za-z0-9_.()\-]{1,90})"
    r"/providers/Microsoft\.Cache/redisEnterprise/(?P<name>[A-Za-z0-9]+(?:-[A-Za-z0-9]+)*)$",
    re.IGNORECASE,
)
_CHILD_KEYS = ("databases", "x-emulator")
_DB_CHILD_KEYS = ("diagnosticSettings", "accessPolicyAssignments")


@dataclass(frozen=True)
class DatabaseSeed:
    name: str
    body: Mapping[str, Any]
    diagnostic_settings: tuple[Mapping[str, Any], ...]
    access_policy_assignments: tuple[Mapping[str, Any], ...]


@dataclass(frozen=True)
class ClusterSeed:
    subscription_id: str
    resource_group: str
    name: str
    body: Mapping[str, Any]
    databases: tuple[DatabaseSeed, ...]
    knobs: Mapping[str, Any]


def is_cluster_entry(entry: Any) -> bool:
    return isinstance(entry, Mapping) and str(entry.get("type", "")).lower() == CLUSTER_TYPE.lower()


def _document(source: str | Path | Sequence[Mapping[str, Any]]) -> Any:
    if isinstance(source, str | Path):
        try:
            return json.loads(Path(source).read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise FleetError(f"{source}: not JSON: {exc}") from exc
    return json.loads(json.dumps(source))


def _database(entry: Mapping[str, Any], cluster_id: str, where: str) -> DatabaseSeed:
    name = str(entry.get("name") or str(entry.get("id") or "").rsplit("/", 1)[-1]).rsplit("/", 1)[-1]
    if name.lower() != "default":
        raise FleetError(f"{where}.name: Azure Managed Redis has one database, named 'default', not {name!r}")
    body = {k: v for k, v in entry.items() if k not in _DB_CHILD_KEYS}
    body["id"] = f"{cluster_id}/databases/{name}"
    body["name"] = name
    body.setdefault("type", "Microsoft.Cache/redisEnterprise/databases")
    return DatabaseSeed(
        name=name,
        body=body,
        diagnostic_settings=tuple(entry.get("diagnosticSettings", ())),
        access_policy_assignments=tuple(entry.get("accessPolicyAssignments", ())),
    )


def load_clusters(source: str | Path | Sequence[Mapping[str, Any]]) -> list[ClusterSeed]:
    """The cluster entries of a fleet (path or loaded list), validated; other entries are `fleet.py`'s."""
    document = _document(source)
    validate_fleet(document)
    seeds: list[ClusterSeed] = []
    seen: set[str] = set()
    for index, entry in enumerate(document):
        if not is_cluster_entry(entry):
            continue
        where = f"$[{index}]"
        match = CLUSTER_ID.match(entry["id"])
        if match is None:
            raise FleetError(f"{where}.id: {entry['id']!r} is not a Microsoft.Cache/redisEnterprise resource id")
        if match["name"].lower() != entry["name"].lower():
            raise FleetError(f"{where}.name: {entry['name']!r} does not match the id's last segment")
        if entry["id"].lower() in seen:
            raise FleetError(f"{where}.id: duplicate cluster {entry['id']!r}")
        seen.add(entry["id"].lower())
        knobs = dict(entry.get("x-emulator", {}))
        if "busyForGets" in knobs and "provisioningSequence" in knobs:
            raise FleetError(f"{where}.x-emulator: use busyForGets or provisioningSequence, not both")
        databases = tuple(
            _database(db, entry["id"], f"{where}.databases[{i}]") for i, db in enumerate(entry.get("databases", ()))
        )
        if len({d.name.lower() for d in databases}) != len(databases):
            raise FleetError(f"{where}.databases: duplicate database")
        body = {k: v for k, v in entry.items() if k not in _CHILD_KEYS}
        body.setdefault("tags", {})
        seeds.append(ClusterSeed(match["sub"].lower(), match["rg"], match["name"], body, databases, knobs))
    return seeds
