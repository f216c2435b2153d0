"""Never laxer than Azure Policy 09aa11bb (Azure Cache for Redis Enterprise should use customer-managed keys):
whenever the built-in flags a cluster document, amr-cmk reports it non_compliant.

The definition is read from the reference copy (WARDEN_REFERENCE_DIR, default the repository's reference/) and
evaluated with the project's policy evaluator over hypothesis-generated cluster bodies: `encryption` and
`customerManagedKeyEncryption` absent, null, empty or filled, types in any letter case.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from remediators.models import CacheSnapshot, Status
from remediators.resource_ids import parse_cache_id
from remediators.rules import rule_by_id
from remediators.rules.base import RuleContext
from tests.amr_fleet import cluster_id
from tests.rules import policy_eval
from tests.rules.test_policy_conformance import REFERENCE

pytestmark = pytest.mark.skipif(not REFERENCE.is_dir(), reason=f"Azure Policy reference copy not at {REFERENCE}")

FILE = "RedisCacheEnterprise_CMKEnabled_Audit.json"
CLUSTER = cluster_id("amr1")
ALIAS = "microsoft.cache/redisenterprise/encryption.customermanagedkeyencryption"


@pytest.fixture(autouse=True)
def cmk_alias(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The evaluator refuses unmapped aliases; this one maps to the property the spec documents."""
    monkeypatch.setitem(policy_eval.ALIASES, ALIAS, ("properties", "encryption", "customerManagedKeyEncryption"))
    yield


ABSENT = object()
urls = st.one_of(st.none(), st.just(""), st.just(" "), st.just("https://kv.vault.azure.net/keys/k/0123abcd"))
cmk_values = st.one_of(
    st.just(ABSENT), st.none(), st.just({}),
    st.fixed_dictionaries({}, optional={
        "keyEncryptionKeyUrl": urls,
        "keyEncryptionKeyIdentity": st.just({"identityType": "userAssignedIdentity"}),
    }),
)
types = st.sampled_from(["Microsoft.Cache/redisEnterprise", "microsoft.cache/redisenterprise",
                         "MICROSOFT.CACHE/REDISENTERPRISE"])


@st.composite
def cluster_bodies(draw: st.DrawFn) -> dict[str, Any]:
    props: dict[str, Any] = {"provisioningState": "Succeeded"}
    encryption = draw(st.sampled_from(["absent", "null", "object"]))
    if encryption == "null":
        props["encryption"] = None
    elif encryption == "object":
        value = draw(cmk_values)
        props["encryption"] = {} if value is ABSENT else {"customerManagedKeyEncryption": value}
    return {"id": CLUSTER, "type": draw(types), "location": "uksouth", "properties": props}


def ours(body: dict[str, Any]) -> Status:
    snapshot = CacheSnapshot(cache_id=parse_cache_id(CLUSTER), resource=body)
    return rule_by_id("amr-cmk").evaluate(snapshot, RuleContext()).status


@settings(max_examples=300, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=cluster_bodies())
def test_never_laxer_than_09aa11bb(body: dict[str, Any]) -> None:
    policy = policy_eval.Definition.load(REFERENCE / FILE)
    if policy.flags(body, api_version="2025-07-01"):
        assert ours(body) is Status.NON_COMPLIANT, body


def test_the_evaluator_reads_09aa11bb_as_azure_policy_does() -> None:
    policy = policy_eval.Definition.load(REFERENCE / FILE)
    assert policy.effect == "audit"
    bare = {"id": CLUSTER, "type": "Microsoft.Cache/redisEnterprise", "properties": {}}
    assert policy.flags(bare, api_version="2025-07-01")
    cmk = {**bare, "properties": {"encryption": {"customerManagedKeyEncryption": {"keyEncryptionKeyUrl": "u"}}}}
    assert not policy.flags(cmk, api_version="2025-07-01")
    assert not policy.flags({**bare, "type": "Microsoft.Cache/Redis"}, api_version="2025-07-01")
    empty = {**bare, "properties": {"encryption": {"customerManagedKeyEncryption": {}}}}
    assert not policy.flags(empty, api_version="2025-07-01") and ours(empty) is Status.NON_COMPLIANT  # stricter


def test_amr_cmk_cites_the_definition() -> None:
    assert policy_eval.Definition.load(REFERENCE / FILE).id in rule_by_id("amr-cmk").metadata.azure_policy
