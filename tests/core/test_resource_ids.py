"""Strict, case-insensitive ARM resource-ID parsing: the first line of defence against forged input."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from remediators.resource_ids import (
    CacheKind,
    InvalidResourceId,
    cache_of,
    parse_cache_id,
    parse_scope,
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
