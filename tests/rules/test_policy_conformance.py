"""Never laxer than Azure Policy: whenever a built-in Redis property policy flags a cache document, the rule
we map it to reports non_compliant.

The definitions are read from the reference copy of Azure/azure-policy (WARDEN_REFERENCE_DIR, default
the repository's reference/) and evaluated with `policy_eval`, over hypothesis-generated cache bodies: fields
absent, null, and string enums in any letter case. Boolean properties are generated as JSON booleans or
null, their type in the ARM spec.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from emulator.spec import REFERENCE_ROOT
from remediators.models import CacheSnapshot, Status
from remediators.resource_ids import parse_cache_id
from remediators.rules import rule_by_id
from remediators.rules.base import RuleContext

from .policy_eval import Definition, UnsupportedPolicy, matches

REFERENCE = REFERENCE_ROOT / "azure-policy"
pytestmark = pytest.mark.skipif(not REFERENCE.is_dir(), reason=f"Azure Policy reference copy not at {REFERENCE}")

# built-in definition (file) -> the rule that must be at least as strict
MAPPING = {
    "RedisCache_AuditSSLPort_Audit.json": "non-ssl-port",  # 22bee202
    "RedisCache_EnableNonSSLPort_Modify.json": "non-ssl-port",  # 766f5de3
    "RedisCache_PublicNetworkAccess_AuditDeny.json": "public-network-access",  # 470baccb
    "RedisCache_PublicNetworkAccess_Modify.json": "public-network-access",  # 30b3dfa5
    "RedisCache_DisableAccessKeysAuth_Audit.json": "access-keys",  # 3827af20
}
CACHE = "/subscriptions/11111111-2222-3333-4444-555555555555/resourceGroups/rg/providers/Microsoft.Cache/Redis/c1"
API_VERSIONS = ["2019-07-01", "2020-06-01", "2023-08-01", "2024-11-01"]


def definition(file: str) -> Definition:
    return Definition.load(REFERENCE / file)


def _cased(word: str) -> st.SearchStrategy[str]:
    return st.sampled_from([word, word.lower(), word.upper(), word.capitalize(), word.swapcase()])


ABSENT = object()
booleans = st.sampled_from([ABSENT, None, True, False])
network = st.one_of(st.just(ABSENT), st.none(), _cased("Enabled"), _cased("Disabled"), st.text(max_size=10))
types = st.one_of(_cased("Microsoft.Cache/Redis"), st.sampled_from(["Microsoft.Cache/redisEnterprise"]))


@st.composite
def cache_bodies(draw: st.DrawFn) -> dict[str, Any]:
    props: dict[str, Any] = {"sku": {"name": "Standard", "family": "C", "capacity": 1}}
    for key, strategy in (
        ("enableNonSslPort", booleans),
        ("publicNetworkAccess", network),
        ("disableAccessKeyAuthentication", booleans),
    ):
        value = draw(strategy)
        if value is not ABSENT:
            props[key] = value
    return {"id": CACHE, "type": draw(types), "location": "uksouth", "properties": props}


def our_status(rule_id: str, body: dict[str, Any]) -> Status:
    snapshot = CacheSnapshot(cache_id=parse_cache_id(CACHE), resource=body, linked_servers=())
    return rule_by_id(rule_id).evaluate(snapshot, RuleContext()).status


@pytest.mark.parametrize("file", sorted(MAPPING))
@settings(max_examples=300, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=cache_bodies(), api_version=st.sampled_from(API_VERSIONS))
def test_never_laxer_than_azure_policy(file: str, body: dict[str, Any], api_version: str):
    policy = definition(file)
    if policy.flags(body, api_version=api_version):
        assert our_status(MAPPING[file], body) is Status.NON_COMPLIANT, (policy.id, body)


@pytest.mark.parametrize("file", sorted(MAPPING))
def test_mapped_rule_cites_the_definition(file: str):
    assert definition(file).id in rule_by_id(MAPPING[file]).metadata.azure_policy


# ---------------------------------------------------------------------------------------------- the evaluator
# The evaluator decides the main test, so its reading of Azure Policy is pinned on known cases.


def body(**props: Any) -> dict[str, Any]:
    return {"id": CACHE, "type": "Microsoft.Cache/Redis", "properties": props}


def test_evaluator_reads_the_definitions_like_azure_policy():
    ssl = definition("RedisCache_AuditSSLPort_Audit.json")
    assert ssl.effect == "audit"
    assert ssl.flags(body(enableNonSslPort=True), api_version="2024-11-01")
    assert not ssl.flags(body(enableNonSslPort=False), api_version="2024-11-01")
    assert not ssl.flags(body(), api_version="2024-11-01")  # absent equals nothing
    assert ssl.flags({**body(enableNonSslPort=True), "type": "microsoft.cache/redis"}, api_version="2024-11-01")
    assert not ssl.flags({**body(enableNonSslPort=True), "type": "Microsoft.Cache/redisEnterprise"},
                         api_version="2024-11-01")

    pna = definition("RedisCache_PublicNetworkAccess_AuditDeny.json")
    assert pna.flags(body(), api_version="2024-11-01")  # notEquals is true for an absent field
    assert pna.flags(body(publicNetworkAccess=None), api_version="2024-11-01")
    assert not pna.flags(body(publicNetworkAccess="disabled"), api_version="2024-11-01")

    keys = definition("RedisCache_DisableAccessKeysAuth_Audit.json")
    assert keys.flags(body(disableAccessKeyAuthentication=False), api_version="2024-11-01")
    assert not keys.flags(body(), api_version="2024-11-01")  # the policy is laxer than our rule here


def test_modify_operations_honour_the_request_api_version():
    modify = definition("RedisCache_PublicNetworkAccess_Modify.json")
    assert modify.effect == "modify"
    assert not modify.flags(body(publicNetworkAccess="Enabled"), api_version="2019-07-01")
    assert modify.flags(body(publicNetworkAccess="Enabled"), api_version="2020-06-01")
    ssl_modify = definition("RedisCache_EnableNonSSLPort_Modify.json")
    assert ssl_modify.flags(body(enableNonSslPort=True), api_version="2019-07-01")  # no condition there


def test_evaluator_refuses_what_it_does_not_understand():
    with pytest.raises(UnsupportedPolicy):
        matches({"field": "Microsoft.Cache/Redis/unknownAlias", "equals": "x"}, body())
    with pytest.raises(UnsupportedPolicy):
        matches({"field": "type", "equals": "[concat('a', 'b')]"}, body())
    with pytest.raises(UnsupportedPolicy):
        matches({"field": "type", "like": "Microsoft.*"}, body())
