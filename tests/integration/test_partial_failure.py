"""Partial failure: one input or one resource kind ARM refuses does not sink the rest. Refusals come from the
emulator's role enforcement (a role without one read), so they are ARM's own 403 AuthorizationFailed."""

from __future__ import annotations

import json
from pathlib import Path

from devhost.azurite import start_azurite
from emulator.authorization import Authorization
from emulator.server import EmulatorServer
from emulator.testing import cache_id, lro_shape_from_env, sample_cache

from .stack import SUB, app_settings, run_cli

OFFICE = ("office", "81.2.69.0", "81.2.69.255")


def _geo_cache(name: str) -> dict[str, object]:
    cache = sample_cache(name, properties={"enableNonSslPort": True}, firewall_rules=[OFFICE])
    cache["linkedServers"] = [{"name": "geo-west", "properties": {
        "linkedRedisCacheId": cache_id("geo-west"), "linkedRedisCacheLocation": "West Europe",
        "serverRole": "Secondary"}}]
    return cache


def _records(path: Path) -> list[dict[str, object]]:
    return [json.loads(x) for x in path.read_text().splitlines() if x.strip()] if path.exists() else []


def test_a_refused_linked_server_read_leaves_only_its_rules_unknown_and_the_cache_is_not_gone(
        tmp_path: Path) -> None:
    roles = Authorization.from_infra().without("Microsoft.Cache/redis/linkedServers/read")
    with start_azurite(log_path=tmp_path / "azurite.log") as az, EmulatorServer(
            [_geo_cache("geo-cache")], lro_shape=lro_shape_from_env(), queue_connection_string=az.connection_string,
            authorization=roles) as arm:
        settings = app_settings(arm, az, tmp_path / "audit.jsonl")
        result = run_cli(["scan", "--subscription", SUB, "--retry-for", "5"], settings)
        assert result.returncode == 0, result.stdout + result.stderr
        records = _records(tmp_path / "audit.jsonl")
        kinds = [r["kind"] for r in records]
        assert "gone" not in kinds
        [alert] = [r for r in records if r["kind"] == "alert" and "linked_servers" in str(r.get("detail"))]
        assert "AuthorizationFailed" in str(alert["outcome"])
        assert any(r["kind"] == "remediated" and r.get("rule") == "non-ssl-port" for r in records)
        unknown = {r["rule"] for r in records if r["kind"] == "detected" and r.get("finding_status") == "unknown"}
        assert unknown and "non-ssl-port" not in unknown
        cache = arm.cache(cache_id("geo-cache"))
        assert cache is not None and cache["properties"]["enableNonSslPort"] is False


def test_a_scan_whose_managed_redis_listing_fails_reconciles_the_rest_and_exits_partial(tmp_path: Path) -> None:
    roles = Authorization.from_infra().without("Microsoft.Cache/redisEnterprise/read")
    fleet = [sample_cache("listed-cache", properties={"enableNonSslPort": True}, firewall_rules=[OFFICE])]
    with start_azurite(log_path=tmp_path / "azurite.log") as az, EmulatorServer(
            fleet, lro_shape=lro_shape_from_env(), queue_connection_string=az.connection_string,
            authorization=roles) as arm:
        settings = app_settings(arm, az, tmp_path / "audit.jsonl")
        result = run_cli(["scan", "--subscription", SUB, "--retry-for", "5"], settings)
        assert result.returncode == 4, result.stdout + result.stderr  # partial (README, "exit codes")
        summary = json.loads(result.stdout)
        assert list(summary["listingFailed"]) == ["Microsoft.Cache/redisEnterprise"]
        assert "403" in summary["listingFailed"]["Microsoft.Cache/redisEnterprise"]
        assert summary["outcomes"] == {"remediated": 1}
        records = _records(tmp_path / "audit.jsonl")
        [alert] = [r for r in records if r["kind"] == "alert"]
        assert alert["outcome"]["kind"] == "Microsoft.Cache/redisEnterprise"  # type: ignore[index]
        cache = arm.cache(cache_id("listed-cache"))
        assert cache is not None and cache["properties"]["enableNonSslPort"] is False
