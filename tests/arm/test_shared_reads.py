"""Reads made once for many caches (remediators.arm.shared), counted from the emulator's request log.

These count OUR code's ARM calls against our own emulator: they show how many requests the gateway sends,
not anything about Azure's answers. The evidence that sharing is sound is cited in arm/shared.py (categories
are documented per resource type) and tests/conformance (a listing carries each cache's full body)."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from emulator.server import EmulatorServer
from emulator.testing import cache_id
from remediators.arm.errors import ArmError
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


def test_concurrent_callers_of_one_key_wait_for_the_first_read() -> None:
    """The host's workers start together: the second caller of a key waits for the read in flight instead of
    making its own (a failed read still keeps nothing: the waiter then reads, and keeps, its own)."""
    shared = SharedReads()
    entered, release = threading.Event(), threading.Event()
    reads: list[str] = []

    def slow() -> str:
        reads.append("first")
        entered.set()
        release.wait(10)
        return "categories"

    got: list[str] = []
    first = threading.Thread(target=lambda: got.append(shared.per_type("Microsoft.Cache/redis", "c", slow)))
    first.start()
    assert entered.wait(10)
    second = threading.Thread(target=lambda: got.append(shared.per_type(
        "microsoft.cache/redis", "c", lambda: reads.append("second") or "other")))
    second.start()
    second.join(0.3)  # lets the second caller reach the read in flight (it must not read while it runs)
    release.set()
    first.join(10)
    second.join(10)
    assert reads == ["first"] and got == ["categories", "categories"]

    def failing() -> str:
        entered.set()
        release.wait(10)
        raise ArmError("throttled", "429", code="TooManyRequests", status=429)

    entered.clear()
    release.clear()
    errors: list[str] = []

    def failing_caller() -> None:
        try:
            shared.per_type("Microsoft.Cache/redis", "d", failing)
        except ArmError as exc:
            errors.append(exc.code or "")

    first = threading.Thread(target=failing_caller)
    first.start()
    assert entered.wait(10)
    second = threading.Thread(target=lambda: got.append(shared.per_type("Microsoft.Cache/redis", "d", lambda: "mine")))
    second.start()
    second.join(0.3)
    release.set()
    first.join(10)
    second.join(10)
    assert errors == ["TooManyRequests"] and got[-1] == "mine"
    assert shared.per_type("Microsoft.Cache/redis", "d", lambda: "never read") == "mine"
