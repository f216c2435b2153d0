"""The key-expiry rule (pure) and how its data-plane input is gated: scans only, opted-in scopes only."""

from __future__ import annotations

import json
from typing import Any

import pytest

from remediators.baseline import BaselineError, load_baseline
from remediators.baseline.document import DEFAULT_PATH
from remediators.dataplane.sampling import PrefixCount, SampleReport
from remediators.inputs import snapshot_inputs
from remediators.models import CacheSnapshot, ManualFix, Status
from remediators.resource_ids import parse_cache_id
from remediators.rules import rule_by_id
from remediators.rules.base import RuleContext

SUB = "11111111-2222-3333-4444-555555555555"
RG = f"/subscriptions/{SUB}/resourceGroups/rg-app"
CACHE = f"{RG}/providers/Microsoft.Cache/Redis/cache1"
AMR = f"{RG}/providers/Microsoft.Cache/redisEnterprise/amr1"
IN = RuleContext(opted_in=True)


def report(sampled: int, without: int, complete: bool = True) -> SampleReport:
    return SampleReport(sampled=sampled, without_ttl=without, vanished=0, complete=complete, scan_calls=1,
                        commands=sampled + 1, top_prefixes=(PrefixCount("session", without, without),))


def snap(cache_id: str = CACHE, **kw: Any) -> CacheSnapshot:
    return CacheSnapshot(cache_id=parse_cache_id(cache_id), resource={"id": cache_id, "properties": {}}, **kw)


def ev(snapshot: CacheSnapshot, ctx: RuleContext = IN):
    return rule_by_id("key-expiry").evaluate(snapshot, ctx)


def test_not_opted_in_is_not_applicable_even_with_a_sample() -> None:
    assert ev(snap(key_expiry=report(10, 10)), RuleContext()).status is Status.NOT_APPLICABLE


@pytest.mark.parametrize("cache_id", [CACHE, AMR])
def test_too_many_keys_without_ttl_is_a_manual_finding_naming_the_prefix(cache_id: str) -> None:
    v = ev(snap(cache_id, key_expiry=report(100, 21)))
    assert v.status is Status.NON_COMPLIANT and isinstance(v.remediation, ManualFix)
    assert "session (21 of 21)" in v.remediation.reason and "21 of 100" in v.reason
    assert v.before["share_without_ttl"] == 0.21


def test_at_the_limit_is_compliant_and_the_limit_is_a_parameter() -> None:
    assert ev(snap(key_expiry=report(100, 20))).status is Status.COMPLIANT
    strict = RuleContext(opted_in=True, params={"maxShareWithoutTtl": 0.0})
    assert ev(snap(key_expiry=report(100, 1)), strict).status is Status.NON_COMPLIANT
    bad = RuleContext(opted_in=True, params={"maxShareWithoutTtl": 2})
    assert ev(snap(key_expiry=report(100, 1)), bad).status is Status.UNKNOWN


def test_missing_sample_is_unknown_skipped_is_not_applicable_and_errors_are_reported() -> None:
    assert ev(snap()).status is Status.UNKNOWN
    assert ev(snap(skipped_inputs=frozenset({"key_expiry"}))).status is Status.NOT_APPLICABLE
    v = ev(snap(key_expiry_error="NOPERM: no data access policy"))
    assert v.status is Status.UNKNOWN and "NOPERM" in v.reason
    assert ev(snap(key_expiry=report(0, 0))).status is Status.COMPLIANT
    assert "bounded sample" in ev(snap(key_expiry=report(100, 90, complete=False))).reason


def _baseline(scopes: list[dict[str, Any]]):
    doc = json.loads(DEFAULT_PATH.read_text())
    doc["scopes"] = scopes
    return load_baseline(json.dumps(doc))


def test_the_sample_is_read_only_in_scans_of_opted_in_scopes() -> None:
    cache = parse_cache_id(CACHE)
    opted = _baseline([{"scope": RG, "optIn": ["key-expiry"]}])
    assert "key_expiry" in snapshot_inputs(opted, cache, scan=True)[0]
    needs, skipped = snapshot_inputs(opted, cache, scan=False)
    assert "key_expiry" not in needs and "key_expiry" in skipped
    assert "key_expiry" not in snapshot_inputs(_baseline([]), cache, scan=True)[0]
    opted_out = _baseline([{"scope": RG, "optIn": ["key-expiry"]}, {"scope": CACHE, "optIn": []}])
    assert "key_expiry" not in snapshot_inputs(opted_out, cache, scan=True)[0]


def test_opting_in_to_a_rule_with_nothing_to_opt_in_to_is_still_refused() -> None:
    with pytest.raises(BaselineError, match="no disruptive remediation"):
        _baseline([{"scope": RG, "optIn": ["no-auth"]}])
