"""Design section 4 as properties: over generated caches AND generated baselines, evaluate + plan, then
replay the plan step by step with a small simulator written here (independent of the planner's own
`check_plan_safety`) and check that no intermediate state
- admits an IPv4 address that was not admitted before (public access on + no rules = all of IPv4),
- removes the last firewall rule while public access is on,
- enables public access or key authentication, or otherwise loosens TLS / the non-SSL port / auth,
- changes Entra (aad-enabled) on a Basic cache (a reboot of its only node),
- contains a disruptive step (publicNetworkAccess Disabled, aad-enabled, access keys off) outside a
  maintenance window of the cache's scope, without the scope's opt-in, or without the effect `remediate`,
- closes the public path without an Approved private endpoint that has a private DNS zone group, or turns
  access keys off before Entra is on.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from remediators.baseline import Baseline, load_baseline
from remediators.models import (
    CacheSnapshot,
    DeleteFirewallRule,
    FirewallRule,
    ManualAction,
    PatchCache,
    PrivateEndpointConnection,
    PutFirewallRule,
)
from remediators.planning.planner import plan
from remediators.resource_ids import parse_cache_id

SUB = "6f1c7e3a-2b4d-4c1e-9f3a-0d2b8e5a7c11"
CACHE_ID = f"/subscriptions/{SUB}/resourceGroups/rg-app/providers/Microsoft.Cache/Redis/app-cache"
ALL_V4 = [(0, 2**32 - 1)]
DISRUPTIVE_RULES = ("public-network-access", "entra-auth", "access-keys")
RULE_IDS = ("non-ssl-port", "tls-min-version", "firewall", "public-network-access", "entra-auth", "access-keys",
            "diagnostic-logs", "data-residency", "no-auth", "metric-alerts")
ALLOWED_POOL = ("81.2.69.0/24", "10.20.0.0/16", "192.168.1.0/28", "81.2.70.7", "203.0.113.0-203.0.113.40")
LONDON = ZoneInfo("Europe/London")
ALWAYS = {"days": ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"], "start": "00:00", "end": "24:00",
          "timezone": "Europe/London"}


# ---------------------------------------------------------------------------------------------- intervals


def _ip(n: int) -> str:
    return ".".join(str((n >> s) & 255) for s in (24, 16, 8, 0))


def _int(ip: str) -> int:
    a, b, c, d = (int(p) for p in ip.split("."))
    return (a << 24) | (b << 16) | (c << 8) | d


def _merge(intervals: list[tuple[int, int]]) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    for lo, hi in sorted(intervals):
        if out and lo <= out[-1][1] + 1:
            out[-1] = (out[-1][0], max(out[-1][1], hi))
        else:
            out.append((lo, hi))
    return out


def _subset(small: list[tuple[int, int]], big: list[tuple[int, int]]) -> bool:
    merged = _merge(big)
    return all(any(blo <= lo and hi <= bhi for blo, bhi in merged) for lo, hi in _merge(small))


def _admitted(public_on: bool, rules: Mapping[str, tuple[int, int]]) -> list[tuple[int, int]]:
    if not public_on:
        return []
    return list(rules.values()) if rules else ALL_V4


# ---------------------------------------------------------------------------------------------- strategies

addresses = st.one_of(
    st.sampled_from([_int("81.2.69.0"), _int("81.2.69.128"), _int("10.20.0.0"), _int("10.21.0.0")]),
    st.integers(0, 2**32 - 1),
    st.sampled_from([_int("81.2.69.0"), _int("81.2.69.255"), _int("10.20.3.4"), _int("0.0.0.0"),
                     _int("255.255.255.255"), _int("192.168.1.5"), _int("81.2.70.7"), _int("203.0.113.9")]),
)


@st.composite
def ranges(draw: Any) -> tuple[int, int]:
    a, b = draw(addresses), draw(addresses)
    if draw(st.booleans()):  # mostly narrow ranges near interesting addresses
        b = min(a + draw(st.integers(0, 600)), 2**32 - 1)
    return (min(a, b), max(a, b))


def pe_connection(i: int) -> Any:
    return st.builds(
        lambda status, has_pe, dns: PrivateEndpointConnection(
            name=f"pe{i}", status=status,
            private_endpoint_id=f"/subscriptions/{SUB}/resourceGroups/rg-net/providers/Microsoft.Network/"
                                f"privateEndpoints/pe{i}" if has_pe else None,
            provisioning_state="Succeeded", private_dns_zone_groups=dns),
        st.sampled_from(["Approved", "Approved", "approved", "Pending", "Rejected", "Disconnected", None]),
        st.sampled_from([True, True, True, False]),
        st.sampled_from([None, (), ("default",), ("default",)]),
    )


@st.composite
def caches(draw: Any) -> CacheSnapshot:
    props: dict[str, Any] = {"provisioningState": "Succeeded",
                             "sku": {"name": draw(st.sampled_from(["Basic", "Standard", "Premium"])),
                                     "family": "C", "capacity": 1}}
    optional = {
        "publicNetworkAccess": st.sampled_from(["Enabled", "Disabled", "disabled", "enabled"]),
        "enableNonSslPort": st.booleans(),
        "minimumTlsVersion": st.sampled_from(["1.0", "1.1", "1.2"]),
        "disableAccessKeyAuthentication": st.booleans(),
        "redisConfiguration": st.fixed_dictionaries({}, optional={
            "aad-enabled": st.sampled_from(["true", "True", "false", "False"]),
            "authnotrequired": st.sampled_from(["true", "false"]),
        }),
        "linkedServers": st.sampled_from([[], [{"id": CACHE_ID + "-geo"}]]),
        "subnetId": st.just(f"/subscriptions/{SUB}/resourceGroups/rg-net/providers/Microsoft.Network/"
                            "virtualNetworks/vnet/subnets/redis"),
    }
    for key, strategy in optional.items():
        if draw(st.booleans()):
            props[key] = draw(strategy)
    rules = draw(st.lists(ranges(), max_size=4))
    firewall = tuple(FirewallRule(f"rule{i}", _ip(lo), _ip(hi)) for i, (lo, hi) in enumerate(rules))
    n_pe = draw(st.integers(0, 3))
    connections = tuple(draw(pe_connection(i)) for i in range(n_pe))
    partner = {"name": "geo", "properties": {"linkedRedisCacheLocation": "UK West"}}
    linked = draw(st.sampled_from([None, (), (partner,)]))
    return CacheSnapshot(
        cache_id=parse_cache_id(CACHE_ID),
        resource={"id": CACHE_ID, "name": "app-cache", "location": draw(st.sampled_from(["UK South", "West Europe"])),
                  "properties": props},
        firewall_rules=draw(st.sampled_from([firewall, firewall, None])),
        private_endpoint_connections=connections,
        diagnostic_settings=(),
        diagnostic_categories=("ConnectedClientList", "MSEntraAuthenticationAuditLog"),
        linked_servers=linked,
        metric_alerts=draw(st.sampled_from([None, ()])),
    )


window = st.fixed_dictionaries({
    "days": st.lists(st.sampled_from(["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]), min_size=1, max_size=7,
                     unique=True),
    "start": st.sampled_from(["00:00", "01:30", "22:00", "12:00"]),
    "end": st.sampled_from(["24:00", "04:00", "06:15", "13:00"]),
    "timezone": st.sampled_from(["Europe/London", "UTC"]),
}).filter(lambda w: w["start"] != w["end"])


@st.composite
def baselines(draw: Any) -> tuple[Baseline, datetime]:
    effects = st.sampled_from(["remediate", "remediate", "audit", "disabled"])
    rules: dict[str, Any] = {rid: {"effect": draw(effects)} for rid in RULE_IDS}
    firewall_params: dict[str, Any] = {}
    if draw(st.integers(0, 3)):
        firewall_params["allowedRanges"] = draw(st.lists(st.sampled_from(ALLOWED_POOL), unique=True, max_size=3))
    if draw(st.booleans()):
        firewall_params["maxRangeSize"] = draw(st.sampled_from([1, 16, 256, 65536]))
    if draw(st.booleans()):
        firewall_params["maxRules"] = draw(st.integers(1, 5))
    rules["firewall"]["parameters"] = firewall_params
    scope: dict[str, Any] = {"scope": draw(st.sampled_from([f"/subscriptions/{SUB}",
                                                             f"/subscriptions/{SUB}/resourceGroups/rg-app",
                                                             CACHE_ID]))}
    if draw(st.integers(0, 3)):
        scope["optIn"] = draw(st.one_of(st.just(list(DISRUPTIVE_RULES)),
                                        st.lists(st.sampled_from(DISRUPTIVE_RULES), unique=True)))
    if draw(st.integers(0, 3)):
        scope["maintenanceWindows"] = draw(st.one_of(st.just([ALWAYS]), st.lists(window, max_size=2)))
    doc = {"version": 1, "dryRun": False, "rules": rules, "scopes": [scope], "exemptions": []}
    now = datetime(2026, 3, 1, tzinfo=UTC) + timedelta(minutes=draw(st.integers(0, 60 * 24 * 60)))
    return load_baseline(json.dumps(doc)), now


# ---------------------------------------------------------------------------------------------- checker


def _aad_on(props: Mapping[str, Any]) -> bool:
    config = props.get("redisConfiguration") or {}
    return any(str(k).lower() == "aad-enabled" and str(v).lower() == "true" for k, v in config.items())


def _disruption_allowed(baseline: Baseline, rule: str, now: datetime) -> bool:
    cache = parse_cache_id(CACHE_ID)
    in_window = any(w.contains(now) for w in baseline.maintenance_windows(cache))
    return baseline.effect(rule) == "remediate" and rule in baseline.opt_in(cache) and in_window


def check(snapshot: CacheSnapshot, baseline: Baseline, now: datetime) -> None:
    props = dict(snapshot.properties)
    public_on = str(props.get("publicNetworkAccess", "Enabled")).lower() != "disabled"
    rules = {r.name.lower(): (_int(r.start_ip), _int(r.end_ip)) for r in snapshot.firewall_rules or ()}
    before = _admitted(public_on, rules)
    basic = str((props.get("sku") or {}).get("name")).lower() == "basic"
    the_plan = plan(baseline.evaluate(snapshot, now=now), snapshot)
    for i, step in enumerate(the_plan.steps):
        where = f"step {i}: {step}"
        if isinstance(step, PatchCache):
            body = step.body["properties"]
            if "publicNetworkAccess" in body:
                assert body["publicNetworkAccess"] == "Disabled", where
                assert _disruption_allowed(baseline, "public-network-access", now), where
                assert not props.get("subnetId"), where
                assert any(str(c.status).lower() == "approved" and c.private_endpoint_id and c.private_dns_zone_groups
                           for c in snapshot.private_endpoint_connections or ()), where
                public_on = False
            if "disableAccessKeyAuthentication" in body:
                assert body["disableAccessKeyAuthentication"] is True, where
                assert _disruption_allowed(baseline, "access-keys", now), where
                assert _aad_on(props), f"{where}: access keys off before Entra is on"
            config = body.get("redisConfiguration") or {}
            for key, value in config.items():
                if key.lower() == "aad-enabled":
                    assert str(value).lower() == "true", where
                    assert not basic, f"{where}: Entra change reboots a Basic cache"
                    assert _disruption_allowed(baseline, "entra-auth", now), where
                if key.lower() == "authnotrequired":
                    assert str(value).lower() == "false", where
            if "enableNonSslPort" in body:
                assert body["enableNonSslPort"] is False, where
            if "minimumTlsVersion" in body:
                assert body["minimumTlsVersion"] == "1.2", where
            props.update({k: v for k, v in body.items() if k != "redisConfiguration"})
            if config:
                props["redisConfiguration"] = {**(props.get("redisConfiguration") or {}), **config}
        elif isinstance(step, PutFirewallRule | DeleteFirewallRule):
            assert snapshot.firewall_rules is not None, where
            key = step.name.lower()
            if isinstance(step, PutFirewallRule):
                rules[key] = (_int(step.start_ip), _int(step.end_ip))
            else:
                assert rules.get(key) == (_int(step.start_ip), _int(step.end_ip)), where
                del rules[key]
                assert rules or not public_on, f"{where}: the last rule removed while public access is on"
            assert _subset(_admitted(public_on, rules), before), f"{where}: admits a new address"
        else:
            assert not isinstance(step, PatchCache)
    if public_on:
        assert _subset(_admitted(public_on, rules), before)
    manual_rules = {s.rule for s in the_plan.steps if isinstance(s, ManualAction)}
    assert manual_rules <= set(RULE_IDS)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(caches(), baselines())
def test_no_plan_step_widens_access_or_disrupts_without_consent(snapshot: CacheSnapshot,
                                                                 baseline_now: tuple[Baseline, datetime]) -> None:
    baseline, now = baseline_now
    check(snapshot, baseline, now)


@settings(max_examples=150, deadline=None)
@given(caches())
def test_everything_opted_in_and_inside_a_window_is_still_safe(snapshot: CacheSnapshot) -> None:
    """The most permissive baseline: every rule remediates, every disruptive rule is opted in, the window is
    always open. Disruptive steps may now appear; the access properties must still hold."""
    doc = {"version": 1, "dryRun": False,
           "rules": {rid: {"effect": "remediate"} for rid in RULE_IDS} | {"firewall": {
               "effect": "remediate", "parameters": {"allowedRanges": list(ALLOWED_POOL[:3]), "maxRangeSize": 65536}}},
           "scopes": [{"scope": f"/subscriptions/{SUB}", "optIn": list(DISRUPTIVE_RULES),
                       "maintenanceWindows": [{"days": ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"],
                                               "start": "00:00", "end": "24:00", "timezone": "Europe/London"}]}],
           "exemptions": []}
    check(snapshot, load_baseline(json.dumps(doc)), datetime(2026, 6, 3, 2, 0, tzinfo=LONDON))


def test_the_checker_catches_an_unsafe_plan() -> None:
    """The simulator above must be able to fail: a plan that deletes the last rule is flagged."""
    snapshot = CacheSnapshot(parse_cache_id(CACHE_ID), {"properties": {"publicNetworkAccess": "Enabled"}},
                             firewall_rules=(FirewallRule("only", "81.2.69.0", "81.2.69.255"),))
    rules = {"only": (_int("81.2.69.0"), _int("81.2.69.255"))}
    before = _admitted(True, rules)
    del rules["only"]
    assert not _subset(_admitted(True, rules), before)
    assert _subset(_admitted(False, {}), before)
    assert snapshot.firewall_rules
