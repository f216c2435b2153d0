"""redis-version (PSRule Azure.Redis.Version, AZR-000347): 6 or later, or latest."""

from __future__ import annotations

import pytest

from remediators.models import CacheSnapshot, ManualFix, Status
from remediators.resource_ids import parse_cache_id
from remediators.rules import rule_by_id
from remediators.rules.base import RuleContext

RG = "/subscriptions/11111111-2222-3333-4444-555555555555/resourceGroups/rg/providers/Microsoft.Cache"


def judge(version: object, cache: str = f"{RG}/Redis/c1"):
    props = {} if version is None else {"redisVersion": version}
    snap = CacheSnapshot(cache_id=parse_cache_id(cache), resource={"properties": props})
    return rule_by_id("redis-version").evaluate(snap, RuleContext())


@pytest.mark.parametrize("version", ["6", "6.0", "6.0.14", "7.2.4", "latest", "Latest", 6])
def test_six_and_later_pass(version: object) -> None:
    assert judge(version).status is Status.COMPLIANT


@pytest.mark.parametrize("version", ["4", "4.0.14", "3.2.7", 4])
def test_older_fails_with_a_manual_fix(version: object) -> None:
    v = judge(version)
    assert v.status is Status.NON_COMPLIANT and isinstance(v.remediation, ManualFix)


@pytest.mark.parametrize("version", [None, "", "six", "6.x", "60000", "-6"])
def test_unreadable_is_unknown(version: object) -> None:
    assert judge(version).status is Status.UNKNOWN


def test_managed_redis_is_not_applicable() -> None:
    assert judge("4", f"{RG}/redisEnterprise/amr1").status is Status.NOT_APPLICABLE
