from __future__ import annotations

import json
from typing import Any

import pytest

from emulator.spec import REFERENCE_ROOT
from remediators.models import CacheSnapshot, FirewallFix, FirewallRule, ManualFix, PropertyFix, Status
from remediators.resource_ids import CacheKind, parse_cache_id
from remediators.rules import ALL_RULES, RULE_MODULES, rule_by_id
from remediators.rules.base import RuleContext

POLICY = REFERENCE_ROOT / "azure-policy"
SUB = "6f1c7e3a-2b4d-4c1e-9f3a-0d2b8e5a7c11"
REDIS = parse_cache_id(f"/subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.Cache/Redis/c1")
AMR = parse_cache_id(f"/subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.Cache/redisEnterprise/a1")
MINE = ("non-ssl-port", "tls-min-version", "firewall")


def snap(props: dict[str, Any] | None = None, *, cache: Any = REDIS, rules: Any = None) -> CacheSnapshot:
    return CacheSnapshot(cache_id=cache, resource={"properties": props or {}}, firewall_rules=rules)


def fw(*specs: tuple[str, str, str]) -> tuple[FirewallRule, ...]:
    return tuple(FirewallRule(n, s, e) for n, s, e in specs)


# ---------------------------------------------------------------------------------------- registry


def test_registry_holds_my_rules_in_order_with_unique_ids() -> None:
    ids = [r.metadata.id for r in ALL_RULES]
    assert ids[:3] == list(MINE)
    assert len(ids) == len(set(ids)) == len(RULE_MODULES)
    for rule_id in ids:
        assert rule_by_id(rule_id).metadata.id == rule_id
    with pytest.raises(KeyError, match="no-such-rule"):
        rule_by_id("no-such-rule")


@pytest.mark.parametrize("rule_id", MINE)
def test_metadata_is_complete(rule_id: str) -> None:
    m = rule_by_id(rule_id).metadata
    for text in (m.title, m.rationale, m.remediation, m.what_could_break):
        assert len(text) > 20 or text == m.title
    assert m.psrule and m.pitfalls and m.resource_types
    assert m.remediation_kind in ("patch", "firewall")
    assert str(m.default_effect) == "remediate"


def test_metadata_mappings_from_the_catalogue() -> None:
    assert rule_by_id("non-ssl-port").metadata.azure_policy[0].startswith("22bee202")
    assert "AZR-000163" in rule_by_id("non-ssl-port").metadata.psrule
    assert "CKV_AZURE_148" in rule_by_id("tls-min-version").metadata.checkov
    assert "AZR-000299" in rule_by_id("firewall").metadata.psrule
    assert rule_by_id("firewall").metadata.needs == frozenset({"firewall_rules"})


# ---------------------------------------------------------------------------------------- non-ssl-port


def test_non_ssl_port() -> None:
    rule = rule_by_id("non-ssl-port")
    v = rule.evaluate(snap({"enableNonSslPort": True}), RuleContext())
    assert v.status is Status.NON_COMPLIANT and v.remediation == PropertyFix({"enableNonSslPort": False})
    assert (v.before, v.after) == (True, False)
    assert rule.evaluate(snap({"enableNonSslPort": False}), RuleContext()).status is Status.COMPLIANT
    assert rule.evaluate(snap({}), RuleContext()).status is Status.COMPLIANT
    assert rule.evaluate(snap({"enableNonSslPort": "true"}), RuleContext()).status is Status.UNKNOWN
    amr = rule.evaluate(snap({"enableNonSslPort": True}, cache=AMR), RuleContext())
    assert amr.status is Status.NOT_APPLICABLE


def test_non_ssl_port_never_laxer_than_policy_22bee202() -> None:
    definition = json.loads((POLICY / "RedisCache_AuditSSLPort_Audit.json").read_text())
    text = json.dumps(definition["properties"]["policyRule"]["if"])
    assert "enableNonSslPort" in text and "true" in text.lower()
    # the policy flags exactly `enableNonSslPort == true`; so must we
    v = rule_by_id("non-ssl-port").evaluate(snap({"enableNonSslPort": True}), RuleContext())
    assert v.status is Status.NON_COMPLIANT


# ---------------------------------------------------------------------------------------- tls


@pytest.mark.parametrize(
    ("props", "status"),
    [
        ({"minimumTlsVersion": "1.2"}, Status.COMPLIANT),
        ({"minimumTlsVersion": "1.3"}, Status.COMPLIANT),  # never lowered
        ({}, Status.NON_COMPLIANT),
        ({"minimumTlsVersion": None}, Status.NON_COMPLIANT),
        ({"minimumTlsVersion": "1.0"}, Status.NON_COMPLIANT),
        ({"minimumTlsVersion": "1.1"}, Status.NON_COMPLIANT),
        ({"minimumTlsVersion": "TLS1_2"}, Status.UNKNOWN),
        ({"minimumTlsVersion": 1.2}, Status.UNKNOWN),
    ],
)
def test_tls_min_version_redis(props: dict[str, Any], status: Status) -> None:
    v = rule_by_id("tls-min-version").evaluate(snap(props), RuleContext())
    assert v.status is status
    if status is Status.NON_COMPLIANT:
        assert v.remediation == PropertyFix({"minimumTlsVersion": "1.2"}) and v.after == "1.2"
    else:
        assert v.remediation is None


def test_tls_min_version_managed_redis() -> None:
    """Clusters are judged by their own rule, which shares the version logic but accepts an absent value."""
    assert CacheKind.REDIS_ENTERPRISE not in rule_by_id("tls-min-version").metadata.resource_types
    rule = rule_by_id("amr-tls-min-version")
    assert rule.evaluate(snap({}, cache=AMR), RuleContext()).status is Status.COMPLIANT
    old = rule.evaluate(snap({"minimumTlsVersion": "1.0"}, cache=AMR), RuleContext())
    assert old.status is Status.NON_COMPLIANT and old.remediation == PropertyFix({"minimumTlsVersion": "1.2"})


# ---------------------------------------------------------------------------------------- firewall

ALLOWED = {"allowedRanges": ["81.2.69.0/24", "10.0.0.0/8"], "maxRangeSize": 256, "maxRules": 3}


def fw_eval(props: dict[str, Any], rules: Any, params: dict[str, Any] | None = None, cache: Any = REDIS) -> Any:
    ctx = RuleContext(params=ALLOWED if params is None else params)
    return rule_by_id("firewall").evaluate(snap(props, cache=cache, rules=rules), ctx)


def test_firewall_not_applicable_and_unknown() -> None:
    assert fw_eval({}, (), cache=AMR).status is Status.NOT_APPLICABLE
    assert fw_eval({"publicNetworkAccess": "Disabled"}, ()).status is Status.NOT_APPLICABLE
    assert fw_eval({"publicNetworkAccess": "disabled"}, ()).status is Status.NOT_APPLICABLE
    assert fw_eval({}, None).status is Status.UNKNOWN
    assert fw_eval({}, (), {"allowedRanges": ["nonsense"]}).status is Status.UNKNOWN
    assert fw_eval({}, (), {"allowedRanges": "10.0.0.0/8"}).status is Status.UNKNOWN
    assert fw_eval({}, (), {"maxRules": 0}).status is Status.UNKNOWN
    assert fw_eval({}, fw(("r", "10.0.0.9", "10.0.0.1"))).status is Status.UNKNOWN


def test_no_rules_with_public_access_admits_everyone() -> None:
    for props in ({}, {"publicNetworkAccess": "Enabled"}):  # absent = Enabled
        v = fw_eval(props, ())
        assert v.status is Status.NON_COMPLIANT and "every IPv4 address" in v.reason
        assert v.remediation == FirewallFix(
            remove=(),
            allowed=(("10.0.0.0", "10.255.255.255"), ("81.2.69.0", "81.2.69.255")),
            max_range_size=256,
            max_rules=3,
        )


def test_no_allowed_ranges_gives_manual_fix() -> None:
    v = fw_eval({}, (), {})
    assert v.status is Status.NON_COMPLIANT and isinstance(v.remediation, ManualFix)
    v = fw_eval({}, fw(("all", "0.0.0.0", "255.255.255.255")), {"allowedRanges": []})
    assert v.status is Status.NON_COMPLIANT and isinstance(v.remediation, ManualFix)


def test_compliant_rules() -> None:
    rules = fw(("office", "81.2.69.10", "81.2.69.19"), ("vnet", "10.1.2.0", "10.1.2.255"))
    v = fw_eval({}, rules)
    assert v.status is Status.COMPLIANT and v.remediation is None
    skipped = fw_eval({}, rules, {})
    assert skipped.status is Status.COMPLIANT and "range check skipped" in skipped.reason


@pytest.mark.parametrize(
    ("bad", "fragment"),
    [
        (("all", "0.0.0.0", "255.255.255.255"), "all of IPv4"),
        (("azure", "0.0.0.0", "0.0.0.0"), "0.0.0.0-0.0.0.0"),
        (("wide", "10.0.0.0", "10.0.3.255"), "more than the maximum 256"),
        (("stranger", "8.8.8.8", "8.8.8.8"), "outside the allowed ranges"),
        (("straddle", "81.2.69.250", "81.2.70.5"), "6 address(es) outside"),
    ],
)
def test_out_of_policy_rule_among_good_ones(bad: tuple[str, str, str], fragment: str) -> None:
    rules = fw(("office", "81.2.69.10", "81.2.69.20"), bad)
    v = fw_eval({}, rules)
    assert v.status is Status.NON_COMPLIANT and fragment in v.reason
    assert isinstance(v.remediation, FirewallFix) and v.remediation.remove == (bad[0],)
    assert v.before == [{"name": r.name, "startIP": r.start_ip, "endIP": r.end_ip} for r in rules]


def test_too_many_rules_only_is_manual() -> None:
    rules = fw(*((f"r{i}", f"10.0.0.{i}", f"10.0.0.{i}") for i in range(4)))
    v = fw_eval({}, rules)
    assert v.status is Status.NON_COMPLIANT and "more than the maximum 3" in v.reason
    assert isinstance(v.remediation, ManualFix)


def test_default_limits() -> None:
    params = {"allowedRanges": ["10.0.0.0/8"]}
    assert fw_eval({}, fw(("w", "10.0.0.0", "10.0.0.255")), params).status is Status.COMPLIANT
    assert fw_eval({}, fw(("w", "10.0.0.0", "10.0.1.0")), params).status is Status.NON_COMPLIANT
    many = fw(*((f"r{i}", f"10.0.0.{i}", f"10.0.0.{i}") for i in range(11)))
    assert fw_eval({}, many, params).status is Status.NON_COMPLIANT
    assert fw_eval({}, many[:10], params).status is Status.COMPLIANT
    assert CacheKind.REDIS in rule_by_id("firewall").metadata.resource_types
