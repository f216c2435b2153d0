"""firewall without allowedRanges: at most `maxPublicAddresses` (default 10) public addresses in total, as
PSRule's Azure.Redis.FirewallIPRange (AZR-000300). Before this cap one rule of 201 addresses, or ten rules of
256, passed when no allowed ranges were configured."""

from __future__ import annotations

from typing import Any

import pytest

from remediators.models import CacheSnapshot, FirewallRule, ManualFix, Status
from remediators.resource_ids import parse_cache_id
from remediators.rules import rule_by_id
from remediators.rules.base import RuleContext

CACHE = "/subscriptions/11111111-2222-3333-4444-555555555555/resourceGroups/rg/providers/Microsoft.Cache/Redis/c1"


def judge(*rules: tuple[str, str], **params: Any):
    snap = CacheSnapshot(cache_id=parse_cache_id(CACHE), resource={"properties": {}},
                         firewall_rules=tuple(FirewallRule(f"r{i}", a, b) for i, (a, b) in enumerate(rules)))
    return rule_by_id("firewall").evaluate(snap, RuleContext(params=params))


def test_one_rule_of_201_public_addresses_fails_without_allowed_ranges() -> None:
    v = judge(("81.2.69.0", "81.2.69.200"))
    assert v.status is Status.NON_COMPLIANT and "201 public addresses" in v.reason
    assert isinstance(v.remediation, ManualFix)


def test_ten_public_addresses_pass_and_overlaps_count_once() -> None:
    assert judge(("81.2.69.1", "81.2.69.10")).status is Status.COMPLIANT
    assert judge(("81.2.69.1", "81.2.69.10"), ("81.2.69.5", "81.2.69.10")).status is Status.COMPLIANT
    assert judge(("81.2.69.1", "81.2.69.10"), ("81.2.69.11", "81.2.69.11")).status is Status.NON_COMPLIANT


def test_private_ranges_are_not_counted_exactly_rfc1918() -> None:
    assert judge(("10.1.0.0", "10.1.0.255"), ("192.168.1.0", "192.168.1.255")).status is Status.COMPLIANT
    # 172.32.x is public although PSRule's prefix test ("172.*") would call it private
    v = judge(("172.32.0.0", "172.32.0.15"))
    assert v.status is Status.NON_COMPLIANT and "16 public addresses" in v.reason


@pytest.mark.parametrize("cap, expected", [(300, Status.COMPLIANT), (200, Status.NON_COMPLIANT)])
def test_the_cap_is_a_parameter(cap: int, expected: Status) -> None:
    assert judge(("81.2.69.0", "81.2.69.200"), maxPublicAddresses=cap).status is expected


def test_with_allowed_ranges_the_ranges_are_the_policy() -> None:
    v = judge(("81.2.69.0", "81.2.69.200"), allowedRanges=["81.2.69.0/24"])
    assert v.status is Status.COMPLIANT
