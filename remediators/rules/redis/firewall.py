"""firewall: with public access on, the firewall rules must admit only the allowed ranges.

Azure Cache for Redis with public network access on and NO firewall rules admits every IPv4 address; once a
rule exists only the listed ranges connect. So "no rules" is the widest state, not the narrowest.

Decisions:
- `publicNetworkAccess` absent means Enabled (the REST default); only "Disabled" (compared
  case-insensitively, as ARM compares enum values) makes the rule not applicable.
- 0.0.0.0-0.0.0.0 is out of policy. For Azure SQL that rule means "allow Azure services"; Azure Cache for
  Redis does not document the convention (Azure monitoring is always allowed anyway), and scanners such as
  KICS flag it as fully open. Whichever meaning applies, removing it never widens access, and the planner
  models it literally (the single address 0.0.0.0), which can only under-estimate what is admitted, so the
  safety check stays conservative.
- `allowedRanges` absent: the range check cannot be made (reported in the reason) but every other check
  still runs; an empty list means no public range is allowed. In both cases a non-compliant cache gets a
  `ManualFix`, because without allowed ranges there is nothing safe to narrow to.
- Too many rules with every rule otherwise in policy: `ManualFix` (which rule to drop is a human choice).
- No `allowedRanges` configured: the rules together may admit at most `maxPublicAddresses` (default 10)
  public addresses, as PSRule's Azure.Redis.FirewallIPRange (AZR-000300) does. Counted exactly: the union
  of all rules (overlaps once) minus RFC 1918, with 0.0.0.0-0.0.0.0 left out as PSRule does (it is flagged
  on its own). Over the cap is a `ManualFix`: without allowed ranges there is nothing to narrow to. With
  allowed ranges configured, they are the policy and the cap does not apply.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ...ipranges import IPV4_MAX, RFC1918, AddressSet, InvalidRange, interval_of, parse_range
from ...models import CacheSnapshot, Effect, FirewallFix, FirewallRule, ManualFix, Severity, Status
from ...resource_ids import CacheKind
from ..base import RuleContext, RuleMetadata, Verdict
from ..frameworks import NETWORK

DEFAULT_MAX_RANGE_SIZE = 256
DEFAULT_MAX_RULES = 10  # PSRule Azure.Redis.FirewallRuleCount (AZR-000299)
DEFAULT_MAX_PUBLIC_ADDRESSES = 10  # PSRule Azure.Redis.FirewallIPRange (AZR-000300), without allowedRanges

METADATA = RuleMetadata(
    id="firewall",
    frameworks=NETWORK,
    title="Firewall rules admit only the allowed ranges",
    severity=Severity.HIGH,
    rationale=(
        "With public network access on and no firewall rules every IPv4 address can reach the cache; broad "
        "or unexpected rules expose it to networks the organisation does not control (MCSB NS-2)."
    ),
    resource_types=(CacheKind.REDIS,),
    default_effect=Effect.REMEDIATE,
    remediation_kind="firewall",
    remediation=(
        "Delete rules outside the allowed ranges or wider than the maximum. If that would leave no rule "
        "(which admits everyone), first add the removed ranges clipped to the allowed ranges; with no rules "
        "at all, add the allowed ranges. Nothing left after clipping, or no allowed ranges configured: "
        "manual."
    ),
    what_could_break=(
        "Clients connecting from addresses outside the allowed ranges lose access. A cache with no rules is "
        "narrowed from all of IPv4 to the allowed ranges."
    ),
    azure_policy=(),
    psrule=("Azure.Redis.FirewallRuleCount", "AZR-000299", "Azure.Redis.FirewallIPRange", "AZR-000300"),
    checkov=(),
    pitfalls=(
        "No firewall rules with public access on means ALL addresses are admitted; never delete the "
        "last rule.",
        "PSRule AZR-000300 counts a range as private by prefix (10.*, 172.*, 192.168.*); this rule "
        "uses exact RFC 1918 and exact range arithmetic.",
        "Without allowedRanges the rules may admit at most maxPublicAddresses (default 10) public addresses "
        "in total, as AZR-000300; with allowedRanges the ranges are the policy.",
        "Firewall rules exist only on Basic, Standard and Premium; Azure Managed Redis has none.",
        "ARM refuses firewall rule names outside ^\\w+$.",
        "A rule change takes effect in under a minute; Azure monitoring is always allowed.",
    ),
    needs=frozenset({"firewall_rules"}),
)


class FirewallParamsError(ValueError):
    """ctx.params for the firewall rule are unusable; the message names the parameter."""


def _positive_int(params: Mapping[str, Any], key: str, default: int) -> int:
    value = params.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise FirewallParamsError(f"{key} must be a positive integer, got {value!r}")
    return value


def _allowed(params: Mapping[str, Any]) -> AddressSet | None:
    raw = params.get("allowedRanges")
    if raw is None:
        return None
    if isinstance(raw, str) or not isinstance(raw, Sequence):
        raise FirewallParamsError("allowedRanges must be a list of CIDR or 'start-end' strings")
    try:
        return AddressSet(tuple(parse_range(r) for r in raw))
    except InvalidRange as exc:
        raise FirewallParamsError(f"allowedRanges: {exc}") from exc


def public_access_on(snapshot: CacheSnapshot) -> bool:
    """Absent means Enabled (REST default); ARM compares enum values case-insensitively."""
    value = snapshot.properties.get("publicNetworkAccess")
    return not (isinstance(value, str) and value.lower() == "disabled")


def _problems(
    rule: FirewallRule, allowed: AddressSet | None, max_range_size: int
) -> list[str]:
    lo, hi = interval_of(rule.start_ip, rule.end_ip)
    out: list[str] = []
    if (lo, hi) == (0, IPV4_MAX):
        out.append("admits all of IPv4")
    elif (lo, hi) == (0, 0):
        out.append("0.0.0.0-0.0.0.0 is not an allowed range")
    if allowed is not None:
        outside = AddressSet.of((lo, hi)) - allowed
        if outside:
            out.append(f"{outside.size} address(es) outside the allowed ranges")
    if hi - lo + 1 > max_range_size:
        out.append(f"{hi - lo + 1} addresses, more than the maximum {max_range_size}")
    return out


def _public_addresses(rules: Sequence[FirewallRule]) -> int:
    """Public addresses admitted by all rules together (RFC 1918 and 0.0.0.0-0.0.0.0 not counted)."""
    admitted = AddressSet(tuple(interval_of(r.start_ip, r.end_ip) for r in rules))
    return (admitted - RFC1918 - AddressSet.of((0, 0))).size


def _describe(rules: Sequence[FirewallRule]) -> list[dict[str, str]]:
    return [{"name": r.name, "startIP": r.start_ip, "endIP": r.end_ip} for r in rules]


class FirewallRuleCheck:
    metadata = METADATA

    def evaluate(self, snapshot: CacheSnapshot, ctx: RuleContext) -> Verdict:
        if snapshot.cache_id.kind is not CacheKind.REDIS:
            return Verdict(Status.NOT_APPLICABLE, "Azure Managed Redis has no firewall rules")
        if not public_access_on(snapshot):
            return Verdict(Status.NOT_APPLICABLE, "public network access is Disabled")
        rules = snapshot.firewall_rules
        if rules is None:
            return Verdict(Status.UNKNOWN, "firewall rules were not read")
        try:
            allowed = _allowed(ctx.params)
            max_range_size = _positive_int(ctx.params, "maxRangeSize", DEFAULT_MAX_RANGE_SIZE)
            max_rules = _positive_int(ctx.params, "maxRules", DEFAULT_MAX_RULES)
            max_public = _positive_int(ctx.params, "maxPublicAddresses", DEFAULT_MAX_PUBLIC_ADDRESSES)
        except FirewallParamsError as exc:
            return Verdict(Status.UNKNOWN, f"invalid firewall parameters: {exc}")
        before = _describe(rules)
        allowed_pairs = allowed.as_ip_pairs() if allowed is not None else ()

        def fix() -> FirewallFix | ManualFix:
            if not allowed:
                return ManualFix(
                    "no allowed ranges are configured for this cache's scope: add allowedRanges to the "
                    "baseline or fix the firewall rules by hand"
                )
            return FirewallFix(
                remove=tuple(offending),
                allowed=allowed_pairs,
                max_range_size=max_range_size,
                max_rules=max_rules,
            )

        if not rules:
            offending: dict[str, list[str]] = {}
            return Verdict(
                Status.NON_COMPLIANT,
                "public access is on and there are no firewall rules: every IPv4 address is admitted",
                before=before,
                after=[list(p) for p in allowed_pairs],
                remediation=fix(),
            )
        offending = {}
        for rule in rules:
            try:
                problems = _problems(rule, allowed, max_range_size)
            except InvalidRange as exc:
                return Verdict(Status.UNKNOWN, f"firewall rule {rule.name!r} is unreadable: {exc}", before)
            if problems:
                offending[rule.name] = problems
        too_many = len(rules) > max_rules
        public = _public_addresses(rules) if allowed is None else 0
        too_public = public > max_public
        if not offending and not too_many and not too_public:
            note = "" if allowed is not None else " (no allowedRanges configured: range check skipped)"
            return Verdict(Status.COMPLIANT, f"{len(rules)} firewall rule(s) in policy{note}", before)
        reasons = [f"{name}: {'; '.join(p)}" for name, p in offending.items()]
        if too_many:
            reasons.append(f"{len(rules)} rules, more than the maximum {max_rules}")
        if too_public:
            reasons.append(f"the rules admit {public} public addresses, more than the maximum {max_public}")
        if allowed is None:
            reasons.append("no allowedRanges configured")
        remediation: FirewallFix | ManualFix
        if offending or too_public:
            remediation = fix()
        else:
            remediation = ManualFix(
                f"{len(rules)} firewall rules exceed the maximum of {max_rules}: "
                "merge or remove rules by hand"
            )
        return Verdict(
            Status.NON_COMPLIANT,
            "; ".join(reasons),
            before=before,
            after={"remove": list(offending)},
            remediation=remediation,
        )


RULE = FirewallRuleCheck()
