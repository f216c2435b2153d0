"""Reads made once for many caches (remediators.arm.shared), counted from the emulator's request log.

These count OUR code's ARM calls against our own emulator: they show how many requests the gateway sends,
not anything about Azure's answers. The evidence that sharing is sound is cited in arm/shared.py (categories
are documented per resource type) and tests/conformance (a listing carries each cache's full body)."""

from __future__ import annotations

from typing import Any

import pytest

from emulator.server import EmulatorServer
from emulator.testing import cache_id
from remediators.arm.gateway import Gateway
from remediators.arm.shared import SharedReads
from remediators.models import PutMetricAlert
from remediators.resource_ids import parse_cache_id

ORDERS = ("orders-a", "orders-b", "orders-c")
ACTION_GROUP = ("/subscriptions/6f1c7e3a-2b4d-4c1e-9f3a-0d2b8e5a7c11/resourceGroups/rg-ops/providers/"
                "microsoft.insights/actionGroups/oncall")


def _gets(server: EmulatorServer, fragment: str) -> list[dict[str, Any]]:
    return [r for r in server.requests() if r["method"] == "GET" and r["path"].lower().endswith(fragment)]


def test_diagnostic_categories_are_read_once_per_resource_type(emulator_server: EmulatorServer,
                                                               gateway: Gateway) -> None:
    needs = frozenset({"diagnostic_settings", "diagnostic_categories"})
    snaps = [gateway.read(parse_cache_id(cache_id(n, resource_group="rg-orders")), needs) for n in ORDERS]
    assert len(_gets(emulator_server, "/diagnosticsettingscategories")) == 1
    assert len(_gets(emulator_server, "/diagnosticsettings")) == 3  # settings stay per cache
    assert {s.diagnostic_categories for s in snaps} == {snaps[0].diagnostic_categories}
    assert "ConnectedClientList" in (snaps[0].diagnostic_categories or ())


def test_metric_alerts_are_listed_once_per_resource_group_per_scan(emulator_server: EmulatorServer,
                                                                   gateway: Gateway) -> None:
    needs = frozenset({"metric_alerts"})
    caches = [parse_cache_id(cache_id(n, resource_group="rg-orders")) for n in ORDERS]
    for cache in caches:
        assert gateway.read(cache, needs, scan_id="scan-1").metric_alerts == ()
    assert len(_gets(emulator_server, "/metricalerts")) == 1
    gateway.read(caches[0], needs, scan_id="scan-2")  # a new scan reads afresh
    assert len(_gets(emulator_server, "/metricalerts")) == 2
    gateway.read(caches[0], needs)  # no scan: never shared
    gateway.read(caches[0], needs)
    assert len(_gets(emulator_server, "/metricalerts")) == 4


def test_our_alert_put_makes_the_scan_list_the_group_again(emulator_server: EmulatorServer,
                                                           gateway: Gateway) -> None:
    """A confirming pass after our PUT must see the new alert, not the scan's list from before it."""
    cache = parse_cache_id(cache_id("orders-a", resource_group="rg-orders"))
    needs = frozenset({"metric_alerts"})
    assert gateway.read(cache, needs, scan_id="scan-1").metric_alerts == ()
    step = PutMetricAlert(rule="metric-alerts", name="warden-orders-a-serverLoad", scope=cache.arm_id,
                          metric="serverLoad", metric_namespace="Microsoft.Cache/redis", operator="GreaterThan",
                          threshold=80.0, aggregation="Maximum", severity=2, evaluation_frequency="PT5M",
                          window_size="PT15M", action_group_id=ACTION_GROUP)
    assert gateway.apply(cache, step).done
    after = gateway.read(cache, needs, scan_id="scan-1")
    assert [a.metrics for a in after.metric_alerts or ()] == [("serverLoad",)]
    assert len(_gets(emulator_server, "/metricalerts")) == 2


def test_log_alert_rules_are_listed_once_per_subscription_per_scan(emulator_server: EmulatorServer,
                                                                   gateway: Gateway) -> None:
    needs = frozenset({"log_alert_rules"})
    for n in ORDERS:
        gateway.read(parse_cache_id(cache_id(n, resource_group="rg-orders")), needs, scan_id="scan-1")
    assert len(_gets(emulator_server, "/scheduledqueryrules")) == 1


def test_entries_expire_and_a_failed_read_keeps_nothing() -> None:
    now = [0.0]
    shared = SharedReads(clock=lambda: now[0])
    calls: list[int] = []

    def read() -> int:
        calls.append(1)
        return len(calls)

    assert shared.per_scan("s", ("x",), read) == 1
    assert shared.per_scan("s", ("x",), read) == 1
    now[0] += 3601
    assert shared.per_scan("s", ("x",), read) == 2

    def failing() -> int:
        raise RuntimeError("ARM said no")

    for _ in range(2):
        with pytest.raises(RuntimeError):
            shared.per_scan("s", ("y",), failing)
    assert shared.per_scan("s", ("y",), read) == 3
