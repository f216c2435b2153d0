"""Property PATCHes of a cache or a cluster: `PropertyFix` findings -> as few `PatchCache` steps as ARM
accepts, split where it refuses a combination in one request (`PATCH_SEQUENCE`). Shared by both resource
kinds: an Azure Managed Redis cluster's properties are patched like a cache's (its databases are not: see
`planning.enterprise`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ..models import CacheSnapshot, ManualAction, PatchCache, PropertyFix
from .safety import same, widening

# Ordered pairs (first, then) of `properties` fields that ARM will not take in one PATCH; `first` goes in
# an earlier PATCH and the engine waits for provisioningState Succeeded in between.
#  - publicNetworkAccess / redisVersion: ARM answers BadRequest "The following updates can't be processed
#    in one single request ... 'properties.redisVersion,properties.publicNetworkAccess'" (Azure/azure-cli
#    issue 26204). Closing public access goes first: it is the security fix.
#  - redisConfiguration / disableAccessKeyAuthentication: Entra (aad-enabled) must be on before access keys
#    are turned off (rule-catalog.md pitfalls), so they never share a PATCH.
PATCH_SEQUENCE: tuple[tuple[str, str], ...] = (
    ("publicNetworkAccess", "redisVersion"),
    ("redisConfiguration", "disableAccessKeyAuthentication"),
)


@dataclass(frozen=True)
class _Change:
    field: str
    sub: str | None  # sub-key of a dict-valued field (redisConfiguration), else None
    value: Any
    rule: str


def _changes(rule: str, fix: PropertyFix) -> list[_Change]:
    out: list[_Change] = []
    for field, value in fix.changes.items():
        if isinstance(value, Mapping):
            out.extend(_Change(field, str(k), v, rule) for k, v in value.items())
        else:
            out.append(_Change(field, None, value, rule))
    return out


def _current(snapshot: CacheSnapshot, change: _Change) -> Any:
    value = snapshot.properties.get(change.field)
    if change.sub is None:
        return value
    return value.get(change.sub) if isinstance(value, Mapping) else None


def _patch_levels(fields: Iterable[str]) -> dict[str, int]:
    """Each present field's PATCH index: 0, or one more than every field that must precede it."""
    present = set(fields)
    level = dict.fromkeys(present, 0)
    for _ in range(len(PATCH_SEQUENCE) + 1):  # longest path in a DAG of at most this many edges
        for first, then in PATCH_SEQUENCE:
            if first in present and then in present and level[then] <= level[first]:
                level[then] = level[first] + 1
    return level


def plan_patches(
    fixes: Sequence[tuple[str, PropertyFix]], snapshot: CacheSnapshot
) -> tuple[list[PatchCache], list[ManualAction], list[str]]:
    manual: list[ManualAction] = []
    notes: list[str] = []
    wanted: dict[tuple[str, str | None], list[_Change]] = {}
    for rule, fix in fixes:
        for change in _changes(rule, fix):
            wanted.setdefault((change.field, change.sub), []).append(change)

    chosen: list[_Change] = []
    for (field, sub), changes in wanted.items():
        first = changes[0]
        rules = sorted({c.rule for c in changes})
        if any(not same(c.value, first.value) for c in changes[1:]):
            target = f"{field}[{sub!r}]" if sub else field
            for rule in rules:
                why = f"rules {', '.join(rules)} want different values for {target}"
                manual.append(ManualAction(rule, why))
            continue
        why = widening(field, {sub: first.value} if sub is not None else first.value)
        if why is not None:
            for rule in rules:
                manual.append(ManualAction(rule, f"refused: {why}"))
            continue
        if same(_current(snapshot, first), first.value):
            notes.append(f"{field}{'[' + repr(sub) + ']' if sub else ''} already has the wanted value")
            continue
        chosen.extend(changes)

    levels = _patch_levels(c.field for c in chosen)
    patches: list[PatchCache] = []
    for level in sorted(set(levels.values())):
        body: dict[str, Any] = {}
        before: dict[str, Any] = {}
        after: dict[str, Any] = {}
        rules_in: list[str] = []
        in_level = [c for c in chosen if levels[c.field] == level]
        for change in sorted(in_level, key=lambda c: (c.field, c.sub or "")):
            if change.rule not in rules_in:
                rules_in.append(change.rule)
            if change.sub is None:
                body[change.field] = change.value
                before[change.field] = _current(snapshot, change)
                after[change.field] = change.value
            else:
                body.setdefault(change.field, {})[change.sub] = change.value
                before.setdefault(change.field, {})[change.sub] = _current(snapshot, change)
                after.setdefault(change.field, {})[change.sub] = change.value
        patches.append(PatchCache({"properties": body}, tuple(sorted(rules_in)), before, after))
    return patches, manual, notes


