from __future__ import annotations

import re
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from remediators.ipranges import ALL_IPV4, AddressSet, int_to_ip, interval_of, ip_to_int
from remediators.models import (
    CacheSnapshot,
    CreateDiagnosticSetting,
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
    Severity,
    Status,
)
from remediators.planning.patches import PATCH_SEQUENCE
from remediators.planning.planner import plan
from remediators.planning.redis import MAX_GENERATED_NAME
from remediators.planning.safety import UnsafePlan, check_plan_safety
from remediators.resource_ids import parse_cache_id
from remediators.rules import rule_by_id
from remediators.rules.base import RuleContext

SUB = "6f1c7e3a-2b4d-4c1e-9f3a-0d2b8e5a7c11"
REDIS = parse_cache_id(f"/subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.Cache/Redis/c1")
AMR = parse_cache_id(f"/subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.Cache/redisEnterprise/a1")
NAME = re.compile(r"^[A-Za-z0-9_]+$")


def snap(props: dict[str, Any] | None = None, rules: Any = (), cache: Any = REDIS) -> CacheSnapshot:
    return CacheSnapshot(cache_id=cache, resource={"properties": props or {}}, firewall_rules=rules)


def fw(*specs: tuple[str, str, str]) -> tuple[FirewallRule, ...]:
    return tuple(FirewallRule(n, s, e) for n, s, e in specs)


def finding(rule: str, remediation: Any, status: Status = Status.NON_COMPLIANT,
            effect: Effect = Effect.REMEDIATE) -> Finding:
    return Finding(rule, status, effect, Severity.HIGH, "test", remediation=remediation)


def fix(remove: tuple[str, ...], allowed: list[str], max_range_size: int | None = 256,
        max_rules: int | None = 10) -> FirewallFix:
    return FirewallFix(remove, AddressSet.from_ranges(allowed).as_ip_pairs(), max_range_size, max_rules)


def apply(snapshot: CacheSnapshot, p: Plan) -> dict[str, tuple[str, str]]:
    """Independent of the planner's checker: run the firewall steps against a dict of rules."""
    state = {r.name.lower(): (r.start_ip, r.end_ip) for r in snapshot.firewall_rules or ()}
    for step in p.steps:
        if isinstance(step, PutFirewallRule):
            state[step.name.lower()] = (step.start_ip, step.end_ip)
        elif isinstance(step, DeleteFirewallRule):
            assert state.pop(step.name.lower()) == (step.start_ip, step.end_ip)
    return state


def admitted(state: dict[str, tuple[str, str]]) -> AddressSet:
    return AddressSet.from_pairs(state.values()) if state else ALL_IPV4


def kinds(p: Plan) -> list[str]:
    return [type(s).__name__ for s in p.steps]


# ---------------------------------------------------------------------------------------- firewall examples


def test_public_access_on_with_no_rules_adds_allowed_ranges() -> None:
    s = snap({}, ())
    p = plan([finding("firewall", fix((), ["81.2.69.0/24", "10.0.0.0/30"]))], s)
    assert p.steps == (
        PutFirewallRule("firewall", "warden_allowed_1", "10.0.0.0", "10.0.0.3"),
        PutFirewallRule("firewall", "warden_allowed_2", "81.2.69.0", "81.2.69.255"),
    )
    assert admitted(apply(s, p)) == AddressSet.from_ranges(["81.2.69.0/24", "10.0.0.0/30"])


def test_no_rules_and_no_allowed_ranges_is_manual() -> None:
    p = plan([finding("firewall", FirewallFix((), ()))], snap({}, ()))
    assert kinds(p) == ["ManualAction"] and not p.writes


def test_no_rules_needing_more_than_max_rules_is_manual() -> None:
    p = plan([finding("firewall", fix((), ["10.0.0.0/22"], max_range_size=256, max_rules=3))], snap({}, ()))
    assert kinds(p) == ["ManualAction"] and "4 firewall rules" in p.steps[0].reason  # type: ignore[union-attr]


def test_all_ipv4_as_only_rule_is_replaced_then_deleted() -> None:
    s = snap({}, fw(("allow_all", "0.0.0.0", "255.255.255.255")))
    p = plan([finding("firewall", fix(("allow_all",), ["81.2.69.0/24", "10.0.0.0/24"]))], s)
    assert p.steps == (
        PutFirewallRule("firewall", "warden_allow_all_1", "10.0.0.0", "10.0.0.255", replaces="allow_all"),
        PutFirewallRule("firewall", "warden_allow_all_2", "81.2.69.0", "81.2.69.255", replaces="allow_all"),
        DeleteFirewallRule("firewall", "allow_all", "0.0.0.0", "255.255.255.255"),
    )
    check_plan_safety(s, p)


def test_wide_rule_among_good_ones_is_just_deleted() -> None:
    s = snap({}, fw(("office", "81.2.69.10", "81.2.69.20"), ("wide", "0.0.0.0", "255.255.255.255")))
    p = plan([finding("firewall", fix(("wide",), ["81.2.69.0/24"]))], s)
    assert p.steps == (DeleteFirewallRule("firewall", "wide", "0.0.0.0", "255.255.255.255"),)


def test_clipping_into_several_pieces() -> None:
    s = snap({}, fw(("branch", "81.2.69.0", "81.2.71.255")))
    p = plan([finding("firewall", fix(("branch",), ["81.2.69.0/24", "81.2.71.0/25", "9.9.9.9"]))], s)
    puts = [st for st in p.steps if isinstance(st, PutFirewallRule)]
    assert [(x.name, x.start_ip, x.end_ip) for x in puts] == [
        ("warden_branch_1", "81.2.69.0", "81.2.69.255"),
        ("warden_branch_2", "81.2.71.0", "81.2.71.127"),
    ]
    assert kinds(p) == ["PutFirewallRule", "PutFirewallRule", "DeleteFirewallRule"]


def test_clipped_piece_wider_than_max_is_split() -> None:
    s = snap({}, fw(("wide", "10.0.0.0", "10.0.3.255")))
    p = plan([finding("firewall", fix(("wide",), ["10.0.0.0/8"], max_range_size=256))], s)
    puts = [x for x in p.steps if isinstance(x, PutFirewallRule)]
    assert [x.name for x in puts] == [f"warden_wide_{i}" for i in range(1, 5)]
    assert all(ip_to_int(x.end_ip) - ip_to_int(x.start_ip) + 1 == 256 for x in puts)
    assert admitted(apply(s, p)) == AddressSet.from_ranges(["10.0.0.0/22"])


def test_too_many_replacement_pieces_is_manual_without_writes() -> None:
    s = snap({}, fw(("wide", "10.0.0.0", "10.0.3.255")))
    p = plan([finding("firewall", fix(("wide",), ["10.0.0.0/8"], max_range_size=256, max_rules=2))], s)
    assert kinds(p) == ["ManualAction"]


def test_nothing_left_after_clipping_is_manual_and_not_deleted() -> None:
    s = snap({}, fw(("stranger", "8.8.8.8", "8.8.8.8")))
    p = plan([finding("firewall", fix(("stranger",), ["10.0.0.0/8"]))], s)
    assert kinds(p) == ["ManualAction"] and "stranger" in p.steps[0].reason  # type: ignore[union-attr]


def test_nothing_left_keeps_the_narrowest_and_deletes_the_rest() -> None:
    s = snap({}, fw(("all", "0.0.0.0", "255.255.255.255"), ("azure", "0.0.0.0", "0.0.0.0")))
    p = plan([finding("firewall", fix(("all", "azure"), ["10.0.0.0/8"], max_range_size=None, max_rules=None))], s)
    # 10/8 overlaps "all", so "all" is clipped to it and "azure" (nothing allowed) goes without replacement
    assert p.steps == (
        PutFirewallRule("firewall", "warden_all_1", "10.0.0.0", "10.255.255.255", replaces="all"),
        DeleteFirewallRule("firewall", "all", "0.0.0.0", "255.255.255.255"),
        DeleteFirewallRule("firewall", "azure", "0.0.0.0", "0.0.0.0"),
    )
    s2 = snap({}, fw(("wide", "8.0.0.0", "8.255.255.255"), ("azure", "0.0.0.0", "0.0.0.0")))
    p2 = plan([finding("firewall", fix(("wide", "azure"), ["10.0.0.0/8"]))], s2)
    assert p2.steps[0] == DeleteFirewallRule("firewall", "wide", "8.0.0.0", "8.255.255.255")
    assert isinstance(p2.steps[1], ManualAction) and "azure" in p2.steps[1].reason
    assert apply(s2, p2) == {"azure": ("0.0.0.0", "0.0.0.0")}


def test_disabled_public_access_plans_nothing_for_the_firewall() -> None:
    s = snap({"publicNetworkAccess": "Disabled"}, ())
    p = plan([finding("firewall", fix((), ["10.0.0.0/8"]))], s)
    assert p.steps == () and any("Disabled" in n for n in p.notes)
    assert plan([finding("firewall", fix((), ["10.0.0.0/8"]))], snap({}, (), cache=AMR)).steps == ()


def test_unread_rules_are_manual() -> None:
    p = plan([finding("firewall", fix((), ["10.0.0.0/8"]))], snap({}, None))
    assert kinds(p) == ["ManualAction"]


def test_generated_names_avoid_collisions_and_respect_limits() -> None:
    long = "r" * 80
    s = snap({}, fw((long, "8.0.0.0", "8.0.1.255"), ("WARDEN_" + long[: MAX_GENERATED_NAME - 9] + "_1", "8.0.0.0",
                                                      "8.0.0.0")))
    p = plan([finding("firewall", fix((long, s.firewall_rules[1].name), ["8.0.0.0/8"]))], s)  # type: ignore[index]
    puts = [x for x in p.steps if isinstance(x, PutFirewallRule)]
    existing = {r.name.lower() for r in s.firewall_rules or ()}
    assert puts and all(NAME.match(x.name) and len(x.name) <= MAX_GENERATED_NAME for x in puts)
    assert not existing & {x.name.lower() for x in puts}
    assert len({x.name.lower() for x in puts}) == len(puts)
    # ARM's grammar for rule names is ^\w+$: a dashed (or `..`) name in an ARM answer is refused before
    # planning (issue 11), not renamed around: nothing is sent for it.
    dashed = snap({}, fw(("my-rule", "8.8.8.0", "8.8.8.255")))
    p2 = plan([finding("firewall", fix(("my-rule",), ["8.8.8.0/25"]))], dashed)
    assert [type(x).__name__ for x in p2.steps] == ["ManualAction"]
    assert "outside its grammar" in p2.steps[0].reason  # type: ignore[union-attr]


def test_stale_remove_names_are_noted() -> None:
    s = snap({}, fw(("a", "10.0.0.1", "10.0.0.1")))
    p = plan([finding("firewall", fix(("gone",), ["10.0.0.0/8"]))], s)
    assert p.steps == () and any("gone" in n for n in p.notes)


# ---------------------------------------------------------------------------------------- patches


def test_merged_patch_holds_only_changed_fields() -> None:
    s = snap({"enableNonSslPort": True, "minimumTlsVersion": "1.2",
              "redisConfiguration": {"maxmemory-policy": "allkeys-lru", "aad-enabled": "false"}})
    findings = [
        finding("non-ssl-port", PropertyFix({"enableNonSslPort": False})),
        finding("tls-min-version", PropertyFix({"minimumTlsVersion": "1.2"})),  # already 1.2
        finding("entra-auth", PropertyFix({"redisConfiguration": {"aad-enabled": "true"}})),
        finding("other", PropertyFix({"redisConfiguration": {"maxmemory-policy": "allkeys-lru"}})),
    ]
    p = plan(findings, s)
    assert p.steps == (
        PatchCache(
            body={"properties": {"enableNonSslPort": False, "redisConfiguration": {"aad-enabled": "true"}}},
            rules=("entra-auth", "non-ssl-port"),
            before={"enableNonSslPort": True, "redisConfiguration": {"aad-enabled": "false"}},
            after={"enableNonSslPort": False, "redisConfiguration": {"aad-enabled": "true"}},
        ),
    )


def test_patch_split_for_fields_arm_will_not_combine() -> None:
    assert ("publicNetworkAccess", "redisVersion") in PATCH_SEQUENCE
    s = snap({"redisVersion": "4", "publicNetworkAccess": "Enabled", "enableNonSslPort": True})
    findings = [
        finding("redis-version", PropertyFix({"redisVersion": "6"})),
        finding("public-network-access", PropertyFix({"publicNetworkAccess": "Disabled"})),
        finding("non-ssl-port", PropertyFix({"enableNonSslPort": False})),
    ]
    p = plan(findings, s)
    bodies = [x.body["properties"] for x in p.steps if isinstance(x, PatchCache)]
    assert bodies == [{"enableNonSslPort": False, "publicNetworkAccess": "Disabled"}, {"redisVersion": "6"}]
    assert plan(list(reversed(findings)), s).steps == p.steps  # deterministic


def test_entra_before_access_keys() -> None:
    s = snap({})
    p = plan([
        finding("access-keys", PropertyFix({"disableAccessKeyAuthentication": True})),
        finding("entra-auth", PropertyFix({"redisConfiguration": {"aad-enabled": "true"}})),
    ], s)
    assert [x.rules for x in p.steps] == [("entra-auth",), ("access-keys",)]  # type: ignore[union-attr]


@pytest.mark.parametrize(
    "changes",
    [{"publicNetworkAccess": "Enabled"}, {"disableAccessKeyAuthentication": False},
     {"enableNonSslPort": True}, {"minimumTlsVersion": "1.0"}, {"redisConfiguration": {"authnotrequired": "true"}}],
)
def test_widening_property_changes_are_refused(changes: dict[str, Any]) -> None:
    p = plan([finding("x", PropertyFix(changes))], snap({}))
    assert kinds(p) == ["ManualAction"] and p.steps[0].reason.startswith("refused")  # type: ignore[union-attr]


def test_conflicting_values_are_manual() -> None:
    p = plan([finding("a", PropertyFix({"redisVersion": "6"})), finding("b", PropertyFix({"redisVersion": "7"}))],
             snap({"redisVersion": "4"}))
    assert kinds(p) == ["ManualAction", "ManualAction"] and {s.rule for s in p.steps} == {"a", "b"}  # type: ignore[union-attr]


def test_only_non_compliant_remediate_findings_write() -> None:
    s = snap({"enableNonSslPort": True})
    pf = PropertyFix({"enableNonSslPort": False})
    assert plan([finding("n", pf, effect=Effect.AUDIT)], s).steps == ()
    assert plan([finding("n", pf, effect=Effect.DISABLED)], s).steps == ()
    for status in (Status.COMPLIANT, Status.EXEMPT, Status.UNKNOWN, Status.NOT_APPLICABLE):
        assert plan([finding("n", pf, status=status)], s).steps == ()
    assert plan([finding("n", ManualFix("call someone"))], s).steps == (ManualAction("n", "call someone"),)
    assert plan([finding("n", ManualFix("x"), effect=Effect.AUDIT)], s).steps == ()


def test_step_order_patch_firewall_diagnostics_manual() -> None:
    s = snap({"enableNonSslPort": True}, fw(("all", "0.0.0.0", "255.255.255.255")))
    findings = [
        finding("manual-thing", ManualFix("look")),
        finding("diagnostic-logs", CreateDiagnosticSetting("warden-logs", "/ws", ("ConnectedClientList",), ())),
        finding("firewall", fix(("all",), ["10.0.0.0/24"])),
        finding("non-ssl-port", PropertyFix({"enableNonSslPort": False})),
    ]
    p = plan(findings, s)
    assert kinds(p) == ["PatchCache", "PutFirewallRule", "DeleteFirewallRule", "PutDiagnosticSetting",
                        "ManualAction"]
    assert p.steps[3] == PutDiagnosticSetting("diagnostic-logs", "warden-logs", "/ws", ("ConnectedClientList",))


# ---------------------------------------------------------------------------------------- checker


def _unsafe(s: CacheSnapshot, *steps: Any) -> str:
    with pytest.raises(UnsafePlan) as err:
        check_plan_safety(s, Plan(tuple(steps)))
    return str(err.value)


def test_checker_rejects_unsafe_plans() -> None:
    one = snap({}, fw(("a", "10.0.0.0", "10.0.0.255")))
    assert "no firewall rule" in _unsafe(one, DeleteFirewallRule("f", "a", "10.0.0.0", "10.0.0.255"))
    assert "not admitted before" in _unsafe(one, PutFirewallRule("f", "b", "10.0.1.0", "10.0.1.0"))
    assert "not present" in _unsafe(one, DeleteFirewallRule("f", "a", "10.0.0.0", "10.0.0.1"))
    assert "not present" in _unsafe(one, DeleteFirewallRule("f", "zz", "10.0.0.0", "10.0.0.255"))
    assert "does not match" in _unsafe(one, PutFirewallRule("f", "bad-name", "10.0.0.1", "10.0.0.1"))
    assert "widen" in _unsafe(one, PatchCache({"properties": {"publicNetworkAccess": "Enabled"}}, ("p",), {}, {}))
    assert "widen" in _unsafe(
        one, PatchCache({"properties": {"disableAccessKeyAuthentication": False}}, ("p",), {}, {}))
    assert "only hold" in _unsafe(one, PatchCache({"sku": {"name": "Basic"}}, ("p",), {}, {}))
    assert "not read" in _unsafe(snap({}, None), PutFirewallRule("f", "b", "10.0.1.0", "10.0.1.0"))
    assert "Managed Redis" in _unsafe(snap({}, (), cache=AMR), PutFirewallRule("f", "b", "1.1.1.1", "1.1.1.1"))
    two = snap({}, fw(("a", "10.0.0.0", "10.0.0.255"), ("b", "0.0.0.0", "255.255.255.255")))
    # deleting before adding the replacement: the list would go empty in between
    assert "no firewall rule" in _unsafe(
        two,
        DeleteFirewallRule("f", "a", "10.0.0.0", "10.0.0.255"),
        DeleteFirewallRule("f", "b", "0.0.0.0", "255.255.255.255"),
        PutFirewallRule("f", "c", "10.0.0.0", "10.0.0.255"),
    )
    # overwriting an existing rule with a wider range widens access
    assert "not admitted before" in _unsafe(one, PutFirewallRule("f", "A", "10.0.0.0", "10.0.1.255"))


def test_checker_accepts_narrowing_from_everything() -> None:
    check_plan_safety(snap({}, ()), Plan((PutFirewallRule("f", "x", "1.2.3.4", "1.2.3.4"),)))
    check_plan_safety(snap({}, ()), Plan((PatchCache({"properties": {"publicNetworkAccess": "Disabled"}}, ("p",),
                                                     {}, {}),)))


# ---------------------------------------------------------------------------------------- properties

BASE = ip_to_int("10.0.0.0")
_offset = st.integers(min_value=0, max_value=1500)


def _range(lo: int, hi: int) -> tuple[str, str]:
    lo, hi = min(lo, hi), max(lo, hi)
    return int_to_ip(BASE + lo), int_to_ip(BASE + hi)


_rule_range = st.one_of(
    st.tuples(_offset, _offset).map(lambda t: _range(*t)),
    st.just(("0.0.0.0", "255.255.255.255")),
    st.just(("0.0.0.0", "0.0.0.0")),
    st.tuples(st.integers(0, 2**32 - 1), st.integers(0, 2**32 - 1)).map(
        lambda t: (int_to_ip(min(t)), int_to_ip(max(t)))),
)
_rules = st.lists(_rule_range, max_size=6).map(
    lambda rs: tuple(FirewallRule(f"rule{i}", s, e) for i, (s, e) in enumerate(rs))
)
_allowed = st.lists(st.tuples(_offset, _offset).map(lambda t: "{}-{}".format(*_range(*t))), max_size=3)


@settings(max_examples=300, deadline=None)
@given(
    rules=_rules,
    allowed=_allowed,
    max_size=st.integers(min_value=1, max_value=4000),
    max_rules=st.integers(min_value=1, max_value=12),
    public=st.sampled_from([None, "Enabled", "Disabled"]),
    configured=st.booleans(),
)
def test_firewall_plans_are_safe_and_end_inside_allowed(
    rules: tuple[FirewallRule, ...], allowed: list[str], max_size: int, max_rules: int, public: str | None,
    configured: bool,
) -> None:
    props = {"publicNetworkAccess": public} if public else {}
    s = snap(props, rules)
    params: dict[str, Any] = {"maxRangeSize": max_size, "maxRules": max_rules}
    if configured:
        params["allowedRanges"] = allowed
    rule = rule_by_id("firewall")
    verdict = rule.evaluate(s, RuleContext(params=params))
    f = Finding("firewall", verdict.status, Effect.REMEDIATE, Severity.HIGH, verdict.reason,
                remediation=verdict.remediation)
    p = plan([f], s)
    check_plan_safety(s, p)

    before = admitted({r.name.lower(): (r.start_ip, r.end_ip) for r in rules}) if public != "Disabled" else None
    state = apply(s, p)
    if before is not None:
        assert admitted(state).issubset(before)
    if rules:
        assert state, "a non-empty firewall list must never be emptied"
    if public == "Disabled" or verdict.status is not Status.NON_COMPLIANT:
        assert p.steps == ()
        return
    manual = any(isinstance(x, ManualAction) for x in p.steps)
    if not manual:
        allowed_set = AddressSet.from_ranges(allowed)
        assert state and admitted(state).issubset(allowed_set)
        for start, end in state.values():
            lo, hi = interval_of(start, end)
            assert hi - lo + 1 <= max_size
        if len(rules) <= max_rules:
            after = snap(props, fw(*((n, a, b) for n, (a, b) in state.items())))
            assert rule.evaluate(after, RuleContext(params=params)).status is Status.COMPLIANT
    else:
        assert all(x.rule == "firewall" for x in p.steps)
