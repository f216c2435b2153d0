"""Steps only Azure Cache for Redis has: firewall rules and metric alerts.

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
from collections.abc import Iterable

from ..ipranges import EMPTY, AddressSet, Interval, InvalidRange, interval_of, interval_to_ips
from ..models import (
    CacheSnapshot,
    CreateMetricAlerts,
    DeleteFirewallRule,
    FirewallFix,
    FirewallRule,
    ManualAction,
    PutFirewallRule,
    PutMetricAlert,
    Step,
)
from ..resource_ids import CacheKind, valid_firewall_rule_name

MAX_GENERATED_NAME = 64  # the spec gives no length limit for rule names; a conservative bound for ours

# ---------------------------------------------------------------------------------------------- firewall


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


def plan_firewall(rule_id: str, fix: FirewallFix, snapshot: CacheSnapshot) -> tuple[list[Step], list[str]]:
    notes: list[str] = []
    current = snapshot.firewall_rules
    if current is None:
        return [ManualAction(rule_id, "firewall rules were not read; cannot plan a safe change")], notes
    foreign = sorted(r.name for r in current if not valid_firewall_rule_name(r.name))
    if foreign:
        # ARM never answers such a name; sending it back could address another resource (`..` would be
        # normalised into the cache itself). Refused before planning, on the record, nothing sent.
        return [ManualAction(rule_id, "ARM answered firewall rule name(s) outside its grammar (^\\w+$): "
                                      f"{', '.join(map(repr, foreign))}; no firewall change is planned")], notes
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


def metric_alert_steps(rule_id: str, fix: CreateMetricAlerts, snapshot: CacheSnapshot) -> list[PutMetricAlert]:
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
