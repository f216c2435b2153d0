"""The shared safety check (design section 4): every plan is checked before the planner returns it, and the
engine checks it again before applying it, so a planning bug can stop a remediation but never widen access.

`check_plan_safety` simulates every intermediate state of a plan; `widening` is the one list of property
values redis-warden never writes, whatever a rule asks for, for either resource kind.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from ..ipranges import ALL_IPV4, EMPTY, AddressSet, Interval, InvalidRange, interval_of
from ..models import CacheSnapshot, DeleteFirewallRule, PatchCache, Plan, PutFirewallRule
from ..resource_ids import CacheKind

# ARM refuses firewall rule names outside ^\w+$ (design section 6). ASCII only: Python's \w also matches
# non-ASCII letters, which ARM does not promise to accept.
RULE_NAME = re.compile(r"^[A-Za-z0-9_]+$")


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


def widening(field: str, value: Any) -> str | None:
    """Why setting `field` to `value` would widen access, or None when it does not."""
    if field in _WIDENING and _WIDENING[field](value):
        return f"{field}={value!r} would widen access"
    if field == "redisConfiguration" and isinstance(value, Mapping):
        for key, sub in value.items():
            check = _WIDENING_CONFIG.get(str(key).lower())
            if check is not None and check(sub):
                return f"redisConfiguration[{key!r}]={sub!r} would widen access"
    return None


# ---------------------------------------------------------------------------------------------- values


def same(a: Any, b: Any) -> bool:
    """ARM compares enum strings case-insensitively and reports redisConfiguration booleans as strings."""
    if isinstance(a, str) and isinstance(b, str):
        return a.lower() == b.lower()
    return type(a) is type(b) and a == b


def public_access_on(snapshot: CacheSnapshot) -> bool:
    """Absent means Enabled (REST default); ARM compares enum values case-insensitively."""
    return not _str_is(snapshot.properties.get("publicNetworkAccess"), "disabled")


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
                why = widening(field, value)
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
