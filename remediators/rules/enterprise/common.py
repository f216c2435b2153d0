"""Helpers shared by the Azure Managed Redis (`Microsoft.Cache/redisEnterprise`) rules: reading the
cluster's databases out of a snapshot.

A cluster holds its data-plane settings (client protocol, access keys) on its `databases` children, not on
the cluster body. The gateway reads them into `CacheSnapshot.databases`; None there means they were not read,
which a rule reports as `unknown`, never compliant. Azure Managed Redis clusters have one database, named
`default`, but nothing here assumes it: every database read is judged.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ...models import CacheSnapshot

DEFAULT_DATABASE = "default"


def database_name(body: Mapping[str, Any]) -> str:
    """The database's own name: GET answers name it `default`, some list answers `cluster/default`."""
    raw = body.get("name") or str(body.get("id") or "").rsplit("/", 1)[-1]
    return str(raw).rsplit("/", 1)[-1]


def database_properties(body: Mapping[str, Any]) -> Mapping[str, Any]:
    props = body.get("properties")
    return props if isinstance(props, Mapping) else {}


def databases(snapshot: CacheSnapshot) -> tuple[tuple[str, Mapping[str, Any]], ...] | None:
    """(name, properties) of every database read, sorted by name; None when they were not read."""
    if snapshot.databases is None:
        return None
    pairs = [(database_name(db), database_properties(db)) for db in snapshot.databases if isinstance(db, Mapping)]
    return tuple(sorted(pairs, key=lambda p: p[0].lower()))


def same_enum(value: Any, expected: str) -> bool:
    """ARM compares enum strings case-insensitively (`modelAsString` enums)."""
    return isinstance(value, str) and value.lower() == expected.lower()
