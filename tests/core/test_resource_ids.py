"""Strict, case-insensitive ARM resource-ID parsing: the first line of defence against forged input."""

from __future__ import annotations

import contextlib
import json
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from emulator.spec import REFERENCE
from remediators.resource_ids import (
    ENTERPRISE_NAME_PATTERN,
    CacheKind,
    InvalidResourceId,
    cache_of,
    enterprise_database_id,
    parse_cache_id,
    parse_scope,
    valid_enterprise_name,
)

SUB = "6f1c7e3a-2b4d-4c1e-9f3a-0d2b8e5a7c11"
CACHE = f"/subscriptions/{SUB}/resourceGroups/rg-payments/providers/Microsoft.Cache/Redis/payments-cache"


def test_cache_id_round_trips_and_compares_case_insensitively() -> None:
    rid = parse_cache_id(CACHE)
    assert rid.kind is CacheKind.REDIS
    assert rid.arm_id == CACHE
    assert parse_cache_id(CACHE.lower().replace("/redis/", "/REDIS/")) == rid
    assert len({rid, parse_cache_id(CACHE.upper().replace(SUB.upper(), SUB))}) == 1


@pytest.mark.parametrize(
    "suffix",
    [
        "/firewallRules/allow_all",
        "/FIREWALLRULES/x",
        "/privateEndpointConnections/pe1",
        "/linkedServers/geo",
        "/providers/Microsoft.Insights/diagnosticSettings/warden-logs",
        "/providers/microsoft.insights/DIAGNOSTICSETTINGS/x",
    ],
)
def test_children_and_extensions_map_to_their_cache(suffix: str) -> None:
    assert cache_of(CACHE + suffix) == parse_cache_id(CACHE)


def test_enterprise_database_maps_to_cluster() -> None:
    cluster = f"/subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.Cache/redisEnterprise/amr1"
    assert cache_of(cluster + "/databases/default").kind is CacheKind.REDIS_ENTERPRISE
    assert cache_of(cluster + "/databases/default/providers/Microsoft.Insights/diagnosticSettings/d") == (
        parse_cache_id(cluster)
    )


@pytest.mark.parametrize(
    "bad",
    [
        f"/subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/st",
        f"/subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.Cache/redis",
        CACHE + "/../other",
        CACHE.replace("/Redis/", "/Redis%2F"),
        CACHE + "/unknownChild/x",
        CACHE + "/firewallRules",
        CACHE + "/providers/Microsoft.Evil/things/x",
        CACHE.replace("Microsoft", "Micrоsoft"),  # Cyrillic o
        "subscriptions/" + SUB,
        "/subscriptions/not-a-guid/resourceGroups/rg/providers/Microsoft.Cache/Redis/c",
        CACHE + "//",
        CACHE + "?x=1",
        "/" + "a" * 5000,
        None,
        42,
    ],
)
def test_refuses_anything_else(bad: object) -> None:
    with pytest.raises(InvalidResourceId):
        cache_of(bad)


def test_scope_levels() -> None:
    assert parse_scope(f"/subscriptions/{SUB}").depth == 0
    rg = parse_scope(f"/subscriptions/{SUB}/resourceGroups/RG-Payments")
    assert rg.depth == 1 and rg.contains(parse_cache_id(CACHE))
    assert parse_scope(CACHE).depth == 2
    other = parse_scope(f"/subscriptions/{SUB}/resourceGroups/rg-other")
    assert not other.contains(parse_cache_id(CACHE))
    with pytest.raises(InvalidResourceId):
        parse_scope(f"/subscriptions/{SUB}/resourceGroups")


@given(st.text(max_size=300))
def test_parser_never_crashes_on_arbitrary_text(raw: str) -> None:
    with contextlib.suppress(InvalidResourceId):
        cache_of(raw)


# ------------------------------------------------------------------ Azure Managed Redis names (ARM's grammar)

SPEC = REFERENCE / "redisenterprise" / "redisenterprise.json"  # the vendored spec (reference/arm-specs/)
CLUSTER = f"/subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.Cache/redisEnterprise/amr1"
# Each would address another URL if sent: climbing out, encoded, reserved, over-long, a look-alike letter.
CRAFTED_NAMES = ["default/../x", "..", "%2e%2e", "a?b", "a#b", "a" * 61, "d\u0435fault", "default\n", "a--b",
                 "-default", "default-", "a_b", "a.b", "a b", ""]


def _spec_pattern(parameter: str) -> str:
    return str(json.loads(SPEC.read_text(encoding="utf-8"))["parameters"][parameter]["pattern"])


def test_the_grammar_is_the_specs_for_cluster_and_database_names() -> None:
    assert _spec_pattern("DatabaseNameParameter") == ENTERPRISE_NAME_PATTERN
    assert _spec_pattern("ClusterNameParameter") == ENTERPRISE_NAME_PATTERN


@given(st.text(alphabet=st.sampled_from("aZ09-_./?#%\u0435 "), max_size=70))
def test_the_check_agrees_with_the_specs_pattern(name: str) -> None:
    """Python's `$` also matches before a final newline, so the spec's pattern is applied to text without one."""
    assert valid_enterprise_name(name) is bool(re.fullmatch(ENTERPRISE_NAME_PATTERN, name))


@pytest.mark.parametrize("name", CRAFTED_NAMES)
def test_a_database_name_outside_the_grammar_is_refused_everywhere_an_id_is_read_or_built(name: str) -> None:
    assert not valid_enterprise_name(name)
    with pytest.raises(InvalidResourceId):
        cache_of(f"{CLUSTER}/databases/{name}")
    with pytest.raises(InvalidResourceId):
        cache_of(f"{CLUSTER}/databases/{name}/providers/Microsoft.Insights/diagnosticSettings/d")
    with pytest.raises(InvalidResourceId, match="outside ARM's grammar"):
        enterprise_database_id(parse_cache_id(CLUSTER), name)


@pytest.mark.parametrize("name", CRAFTED_NAMES)
def test_a_cluster_name_outside_the_grammar_is_refused(name: str) -> None:
    with pytest.raises(InvalidResourceId):
        parse_cache_id(CLUSTER.replace("/amr1", f"/{name}"))
    with pytest.raises(InvalidResourceId):
        parse_scope(CLUSTER.replace("/amr1", f"/{name}"))


def test_names_in_the_grammar_pass_and_a_refusal_quotes_a_crafted_name_escaped_and_cut() -> None:
    assert cache_of(f"{CLUSTER}/databases/db-2") == parse_cache_id(CLUSTER)
    assert parse_cache_id(CLUSTER.replace("/amr1", "/" + "a" * 60)).name == "a" * 60
    assert enterprise_database_id(parse_cache_id(CLUSTER), "default") == f"{CLUSTER}/databases/default"
    with pytest.raises(InvalidResourceId) as info:
        enterprise_database_id(parse_cache_id(CLUSTER), "d\u0435fault" + "x" * 500)
    assert "\\u0435" in str(info.value) and len(str(info.value)) < 250
    with pytest.raises(InvalidResourceId):
        enterprise_database_id(parse_cache_id(CACHE), "default")  # Azure Cache for Redis has no databases
