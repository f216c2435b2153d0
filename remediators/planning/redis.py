"""Findings -> an ordered, safe, minimal list of ARM steps (design section 4).

The planner is pure: it sees the findings and the snapshot they were computed from, and returns a `Plan`.
Its output is checked by `check_plan_safety` before it is returned, and the engine checks it again, so a
planning bug can stop a remediation but can never widen access.

Order of a plan: property PATCHes (as few as ARM accepts in one request, split where it refuses a
combination), then firewall PUTs, then firewall DELETEs, then diagnostic settings, then metric alerts, then
manual actions.

Firewall decisions beyond the design text:
- A rule to remove is replaced only when removing it would leave no rule at all (that state admits every
  address); otherwise it is simply deleted, because the remaining rules keep the cache closed.
- When every rule is removed, the replacement is each removed rule clipped to the allowed ranges, minus what
  an earlier replacement already covers, split into pieces no wider than the fix's `max_range_size`.
- When nothing is left after clipping, the narrowest removed rule is kept (ManualAction names it) and the
  others are deleted: that narrows access and cuts no compliant path, since none of them admitted an
  allowed address.
- When the replacement would need more rules than `max_rules`, nothing is written (ManualAction): either
  choice would leave the cache out of policy or cut off an allowed address.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ..ipranges import ALL_IPV4, EMPTY, AddressSet, Interval, InvalidRange, interval_of, interval_to_ips
from ..models import (
    CacheSnapshot,
    CreateDiagnosticSetting,
    CreateMetricAlerts,
    DatabaseFix,
    DeleteFirewallRule,
    Effect,
    Finding,
    FirewallFix,
    FirewallRule,
    ManualAction,
    ManualFix,
    PatchCache,
    Plan,
    PropertyFix,
    PutDiagnosticSetting,
    PutFirewallRule,
    PutMetricAlert,
    Status,
    Step,
)
from ..resource_ids import CacheKind
from .enterprise import plan_database_patches

# ARM refuses firewall rule names outside ^\w+$ (design section 6). ASCII only: Python's \w also matches
# non-ASCII letters, which ARM does not promise to accept. The spec gives no length limit; 64 is a
# conservative bound for the names we generate.
RULE_NAME = re.compile(r"^[A-Za-z0-9_]+$")
MAX_GENERATED_NAME = 64

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


class UnsafePlan(Exception):
    """A plan would widen access, empty the firewall list, or enable public access / key auth."""


# ---------------------------------------------------------------------------------------------- widening


def _str_is(value: Any, expected: str) -> bool:
    return isinstance(value, str) and value.lower() == expected


# A property value that would widen access: never written by redis-warden, whatever a rule asks for.
_WIDENING: dict[str, Callable[[Any], bool]] = {
    "publicNetworkAccess": lambda v: not _str_is(v, "disabled"),
    "disableAccessKeyAuthentication": lambda v: v is not True,
    "enableNonSslPort": lambda v: v is not False,
    "minimumTlsVersion": lambda v: _str_is(v, "1.0") or _str_is(v, "1.1") or v is None,
    # Azure Managed Redis database fields (PatchDatabase bodies go through the same check).
    "clientProtocol": lambda v: not _str_is(v, "encrypted"),
    "accessKeysAuthentication": lambda v: not _str_is(v, "disabled"),
}
_WIDENING_CONFIG: dict[str, Callable[[Any], bool]] = {
    "authnotrequired": lambda v: not _str_is(v, "false"),
}


def _widening(field: str, value: Any) -> str | None:
    """Why setting `field` to `value` would widen access, or None when it does not."""
    if field in _WIDENING and _WIDENING[field](value):
        return f"{field}={value!r} would widen access"
    if field == "redisConfiguration" and isinstance(value, Mapping):
        for key, sub in value.items():
            check = _WIDENING_CONFIG.get(str(key).lower())
            if check is not None and check(sub):
                return f"redisConfiguration[{key!r}]={sub!r} would widen access"
    return None


# ---------------------------------------------------------------------------------------------- patches


def _same(a: Any, b: Any) -> bool:
    """ARM compares enum strings case-insensitively and reports redisConfiguration booleans as strings."""
    if isinstance(a, str) and isinstance(b, str):
        return a.lower() == b.lower()
    return type(a) is type(b) and a == b


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


def _plan_patches(
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
        if any(not _same(c.value, first.value) for c in changes[1:]):
            target = f"{field}[{sub!r}]" if sub else field
            for rule in rules:
                why = f"rules {', '.join(rules)} want different values for {target}"
                manual.append(ManualAction(rule, why))
            continue
        why = _widening(field, {sub: first.value} if sub is not None else first.value)
        if why is not None:
            for rule in rules:
                manual.append(ManualAction(rule, f"refused: {why}"))
            continue
        if _same(_current(snapshot, first), first.value):
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


# ---------------------------------------------------------------------------------------------- firewall


def public_access_on(snapshot: CacheSnapshot) -> bool:
    """Absent means Enabled (REST default); ARM compares enum values case-insensitively."""
    return not _str_is(snapshot.properties.get("publicNetworkAccess"), "disabled")


def _safe_name(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_]", "_", text)


class _Names:
    """Generates rule names that match ^\\w+$, fit the length bound and collide with nothing (ARM names
    are case-insensitive)."""

    def __init__(self, existing: Iterable[str]) -> None:
        self.taken = {n.lower() for n in existing}

    def new(self, stem: str, n: int) -> str:
        while True:
            suffix = f"_{n}"
            name = f"warden_{_safe_name(stem)}"[: MAX_GENERATED_NAME - len(suffix)] + suffix
            if name.lower() not in self.taken:
                self.taken.add(name.lower())
                return name
            n += 1


def _split(pieces: AddressSet, max_range_size: int | None) -> tuple[Interval, ...]:
    return pieces.split(max_range_size) if max_range_size else pieces.intervals


def _plan_firewall(rule_id: str, fix: FirewallFix, snapshot: CacheSnapshot) -> tuple[list[Step], list[str]]:
    notes: list[str] = []
    current = snapshot.firewall_rules
    if current is None:
        return [ManualAction(rule_id, "firewall rules were not read; cannot plan a safe change")], notes
    try:
        allowed = AddressSet.from_pairs(fix.allowed)
        intervals = {r.name: interval_of(r.start_ip, r.end_ip) for r in current}
    except InvalidRange as exc:
        return [ManualAction(rule_id, f"cannot plan firewall change: {exc}")], notes
    names = _Names(r.name for r in current)

    if not current:
        if not allowed:
            return [ManualAction(rule_id, "no firewall rules (every address admitted) and no allowed ranges "
                                          "configured: add allowedRanges or firewall rules by hand")], notes
        pieces = _split(allowed, fix.max_range_size)
        if fix.max_rules is not None and len(pieces) > fix.max_rules:
            return [ManualAction(rule_id, f"the allowed ranges need {len(pieces)} firewall rules, more than "
                                          f"the maximum {fix.max_rules}")], notes
        return [
            PutFirewallRule(rule_id, names.new("allowed", i), *interval_to_ips(iv))
            for i, iv in enumerate(pieces, start=1)
        ], notes

    wanted = {n.lower() for n in fix.remove}
    missing = wanted - {r.name.lower() for r in current}
    if missing:
        notes.append(f"firewall rules no longer present: {', '.join(sorted(missing))}")
    remove = [r for r in current if r.name.lower() in wanted]
    keep = [r for r in current if r.name.lower() not in wanted]

    def delete(r: FirewallRule) -> DeleteFirewallRule:
        return DeleteFirewallRule(rule_id, r.name, r.start_ip, r.end_ip)

    if keep or not remove:
        return [delete(r) for r in remove], notes

    # Removing every rule would admit everyone: replace with the removed ranges clipped to the allowed ones.
    covered = EMPTY
    puts: list[PutFirewallRule] = []
    for r in remove:
        clip = (AddressSet.of(intervals[r.name]) & allowed) - covered
        covered = covered | clip
        puts.extend(
            PutFirewallRule(rule_id, names.new(r.name, i), *interval_to_ips(iv), replaces=r.name)
            for i, iv in enumerate(_split(clip, fix.max_range_size), start=1)
        )
    if not puts:
        kept = min(remove, key=lambda r: (intervals[r.name][1] - intervals[r.name][0], r.name.lower()))
        manual = ManualAction(
            rule_id,
            f"firewall rule {kept.name} ({kept.start_ip}-{kept.end_ip}) has no address inside the allowed "
            "ranges, and deleting it would leave no rule, which admits every address: replace it by hand "
            "or disable public network access",
        )
        return [*(delete(r) for r in remove if r is not kept), manual], notes
    if fix.max_rules is not None and len(puts) > fix.max_rules:
        return [ManualAction(rule_id, f"narrowing the firewall needs {len(puts)} replacement rules, more "
                                      f"than the maximum {fix.max_rules}")], notes
    return [*puts, *(delete(r) for r in remove)], notes


# ---------------------------------------------------------------------------------------------- alerts

METRIC_NAMESPACE = {CacheKind.REDIS: "Microsoft.Cache/redis"}


def _metric_alert_steps(rule_id: str, fix: CreateMetricAlerts, snapshot: CacheSnapshot) -> list[PutMetricAlert]:
    """One PUT per missing alert, scoped to exactly this cache (never its group or subscription, so the
    rule cannot fire for, or be edited on behalf of, another resource)."""
    cache = snapshot.cache_id
    return [
        PutMetricAlert(
            rule=rule_id,
            name=spec.name,
            scope=cache.arm_id,
            metric=spec.metric,
            metric_namespace=METRIC_NAMESPACE.get(cache.kind, "Microsoft.Cache/redis"),
            aggregation=spec.aggregation,
            operator=spec.operator,
            threshold=spec.threshold,
            window_size=spec.window_size,
            evaluation_frequency=spec.evaluation_frequency,
            action_group_id=fix.action_group_id,
        )
        for spec in fix.alerts
    ]


# ---------------------------------------------------------------------------------------------- plan


def plan(findings: Sequence[Finding], snapshot: CacheSnapshot) -> Plan:
    """Turn the actionable findings into ordered steps; raises UnsafePlan if the result fails the check
    (a planner bug): better to write nothing than something unsafe."""
    property_fixes: list[tuple[str, PropertyFix]] = []
    database_fixes: list[tuple[str, DatabaseFix]] = []
    firewall_fixes: list[tuple[str, FirewallFix]] = []
    diagnostics: list[PutDiagnosticSetting] = []
    alerts: list[PutMetricAlert] = []
    manual: list[ManualAction] = []
    notes: list[str] = []

    for f in findings:
        if f.status is not Status.NON_COMPLIANT or f.effect is not Effect.REMEDIATE:
            continue
        rem = f.remediation
        if isinstance(rem, PropertyFix):
            property_fixes.append((f.rule, rem))
        elif isinstance(rem, DatabaseFix):
            database_fixes.append((f.rule, rem))
        elif isinstance(rem, FirewallFix):
            firewall_fixes.append((f.rule, rem))
        elif isinstance(rem, CreateMetricAlerts):
            alerts.extend(_metric_alert_steps(f.rule, rem, snapshot))
        elif isinstance(rem, CreateDiagnosticSetting):
            diagnostics.append(
                PutDiagnosticSetting(f.rule, rem.name, rem.workspace_id, rem.categories, rem.category_groups)
            )
        elif isinstance(rem, ManualFix):
            manual.append(ManualAction(f.rule, rem.reason))
        else:
            what = f"the planner cannot apply {type(rem).__name__}" if rem is not None else "no remediation given"
            manual.append(ManualAction(f.rule, f"{what}; fix by hand"))

    patches, patch_manual, patch_notes = _plan_patches(property_fixes, snapshot)
    notes.extend(patch_notes)
    # Azure Managed Redis: database PATCHes after the cluster's (the cluster PATCH must finish first).
    db_patches, db_manual, db_notes = plan_database_patches(database_fixes, snapshot, _widening)
    patches.extend(db_patches)
    patch_manual.extend(db_manual)
    notes.extend(db_notes)

    firewall: list[Step] = []
    if firewall_fixes:
        rule_id, fix = firewall_fixes[0]
        for other, _ in firewall_fixes[1:]:
            manual.append(ManualAction(other, "only one firewall remediation is planned per pass"))
        if snapshot.cache_id.kind is not CacheKind.REDIS:
            notes.append("firewall fix ignored: Azure Managed Redis has no firewall rules")
        elif not public_access_on(snapshot):
            notes.append("firewall fix ignored: public network access is Disabled")
        else:
            steps, fw_notes = _plan_firewall(rule_id, fix, snapshot)
            notes.extend(fw_notes)
            firewall.extend(s for s in steps if not isinstance(s, ManualAction))
            manual.extend(s for s in steps if isinstance(s, ManualAction))

    puts = [s for s in firewall if isinstance(s, PutFirewallRule)]
    deletes = [s for s in firewall if isinstance(s, DeleteFirewallRule)]
    result = Plan(
        steps=(*patches, *puts, *deletes, *diagnostics, *alerts, *patch_manual, *manual),
        notes=tuple(notes),
    )
    check_plan_safety(snapshot, result)
    return result


# ---------------------------------------------------------------------------------------------- safety


def _admitted(public_on: bool, rules: Mapping[str, Interval]) -> AddressSet:
    if not public_on:
        return EMPTY
    if not rules:
        return ALL_IPV4
    return AddressSet(tuple(rules.values()))


def check_plan_safety(snapshot: CacheSnapshot, plan: Plan) -> None:
    """Simulate every intermediate state of `plan` and raise UnsafePlan if any state admits an address
    that was not admitted before (no rules with public access on = all of IPv4), if a non-empty firewall
    list would become empty, if a step enables public access or key auth (or otherwise widens access),
    or if a firewall step does not match the state it would run against."""
    public_on = public_access_on(snapshot)
    rules: dict[str, Interval] = {}
    if snapshot.firewall_rules is not None:
        try:
            rules = {r.name.lower(): interval_of(r.start_ip, r.end_ip) for r in snapshot.firewall_rules}
        except InvalidRange as exc:
            if any(isinstance(s, PutFirewallRule | DeleteFirewallRule) for s in plan.steps):
                raise UnsafePlan(f"firewall steps planned over unreadable rules: {exc}") from exc
    before = _admitted(public_on, rules)

    for index, step in enumerate(plan.steps):
        where = f"step {index} ({type(step).__name__})"
        if isinstance(step, PatchCache):
            if set(step.body) - {"properties"}:
                raise UnsafePlan(f"{where}: PATCH body may only hold 'properties'")
            props = step.body.get("properties")
            if not isinstance(props, Mapping) or not props:
                raise UnsafePlan(f"{where}: PATCH without properties")
            for field, value in props.items():
                why = _widening(field, value)
                if why is not None:
                    raise UnsafePlan(f"{where}: {why}")
            if "publicNetworkAccess" in props:
                public_on = False  # only "Disabled" survives the widening check
            continue
        if isinstance(step, PutFirewallRule | DeleteFirewallRule):
            if snapshot.cache_id.kind is not CacheKind.REDIS:
                raise UnsafePlan(f"{where}: Azure Managed Redis has no firewall rules")
            if snapshot.firewall_rules is None:
                raise UnsafePlan(f"{where}: firewall rules were not read")
            try:
                interval = interval_of(step.start_ip, step.end_ip)
            except InvalidRange as exc:
                raise UnsafePlan(f"{where}: {exc}") from exc
            key = step.name.lower()
            if isinstance(step, PutFirewallRule):
                if not RULE_NAME.match(step.name):
                    raise UnsafePlan(f"{where}: rule name {step.name!r} does not match ^\\w+$")
                rules[key] = interval
            else:
                if rules.get(key) != interval:
                    expected = f"{step.start_ip}-{step.end_ip}"
                    raise UnsafePlan(f"{where}: {step.name} is not present with {expected}")
                del rules[key]
                if not rules:
                    raise UnsafePlan(f"{where}: deleting {step.name} would leave no firewall rule")
            now = _admitted(public_on, rules)
            if not now.issubset(before):
                extra = now - before
                raise UnsafePlan(f"{where}: would admit {extra.size} address(es) not admitted before")
