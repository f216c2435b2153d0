"""Database PATCHes for Azure Managed Redis: `DatabaseFix` findings -> one `PatchDatabase` per database.

Pure, like `planning.planner`, which calls it. A database is its own ARM resource (`.../redisEnterprise/{cluster}/
databases/{name}`), so its fields never share a PATCH with the cluster's; every database gets at most one
PATCH holding only the fields that change. Two rules wanting different values for one field, a value that
would widen access (`safety.widening`), or a database the snapshot does not hold become manual
actions; a field that already has the wanted value is a note, not a write. A database name outside ARM's
grammar (`resource_ids.ENTERPRISE_NAME_PATTERN`) is never planned: the step is refused as a manual action,
on the record, and nothing is sent (the gateway refuses such a name too).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ..models import CacheSnapshot, DatabaseFix, ManualAction, PatchDatabase
from ..resource_ids import ENTERPRISE_NAME_PATTERN, shown, valid_enterprise_name
from .safety import same, widening


def _database_properties(snapshot: CacheSnapshot) -> dict[str, Mapping[str, Any]]:
    """lower-cased database name -> (name as read, properties)."""
    out: dict[str, Mapping[str, Any]] = {}
    for db in snapshot.databases or ():
        name = str(db.get("name") or str(db.get("id") or "").rsplit("/", 1)[-1]).rsplit("/", 1)[-1]
        props = db.get("properties")
        out[name.lower()] = props if isinstance(props, Mapping) else {}
    return out


def plan_database_patches(
    fixes: Sequence[tuple[str, DatabaseFix]],
    snapshot: CacheSnapshot,
) -> tuple[list[PatchDatabase], list[ManualAction], list[str]]:
    manual: list[ManualAction] = []
    notes: list[str] = []
    current = _database_properties(snapshot)
    # (database lower, field) -> [(rule, value, database as named)]
    wanted: dict[tuple[str, str], list[tuple[str, Any, str]]] = {}
    for rule, fix in fixes:
        for database, changes in fix.changes.items():
            for field, value in changes.items():
                wanted.setdefault((database.lower(), field), []).append((rule, value, database))

    chosen: dict[str, list[tuple[str, str, Any]]] = {}  # database -> [(rule, field, value)]
    names: dict[str, str] = {}
    for (db_key, field), asks in sorted(wanted.items()):
        rules = sorted({r for r, _, _ in asks})
        value = asks[0][1]
        if not valid_enterprise_name(asks[0][2]):
            manual.extend(ManualAction(r, f"refused: database name {shown(asks[0][2])} is outside ARM's grammar "
                                          f"({ENTERPRISE_NAME_PATTERN}); no PATCH is planned") for r in rules)
            continue
        if any(not same(v, value) for _, v, _ in asks[1:]):
            manual.extend(ManualAction(r, f"rules {', '.join(rules)} want different values for database "
                                          f"{asks[0][2]} {field}") for r in rules)
            continue
        why = widening(field, value)
        if why is not None:
            manual.extend(ManualAction(r, f"refused: database {asks[0][2]}: {why}") for r in rules)
            continue
        if db_key not in current:
            manual.extend(ManualAction(r, f"database {asks[0][2]} was not read; cannot plan its PATCH")
                          for r in rules)
            continue
        if same(current[db_key].get(field), value):
            notes.append(f"database {asks[0][2]} {field} already has the wanted value")
            continue
        names.setdefault(db_key, asks[0][2])
        chosen.setdefault(db_key, []).extend((r, field, value) for r in rules)

    patches: list[PatchDatabase] = []
    for db_key in sorted(chosen):
        body: dict[str, Any] = {}
        before: dict[str, Any] = {}
        rules_in: list[str] = []
        for rule, field, value in chosen[db_key]:
            body[field] = value
            before[field] = current[db_key].get(field)
            if rule not in rules_in:
                rules_in.append(rule)
        patches.append(PatchDatabase({"properties": body}, tuple(sorted(rules_in)), before, dict(body),
                                     database=names[db_key]))
    return patches, manual, notes
