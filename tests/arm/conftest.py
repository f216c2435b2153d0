"""Fixtures for gateway tests: the real SDK over HTTPS against the emulator, authenticated by the real
`ManagedIdentityCredential` through the emulator's identity endpoint (env set by `running_emulator`)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from azure.identity import ManagedIdentityCredential

from emulator.server import EmulatorServer
from emulator.testing import cache_id, running_emulator, sample_cache
from remediators.arm.gateway import Gateway

WORKSPACE = (
    "/subscriptions/6f1c7e3a-2b4d-4c1e-9f3a-0d2b8e5a7c11/resourceGroups/rg-logs/providers/"
    "Microsoft.OperationalInsights/workspaces/law-warden"
)


def gateway_fleet() -> list[dict[str, Any]]:
    sparse = sample_cache("sparse-cache")
    for absent in ("minimumTlsVersion", "enableNonSslPort", "redisConfiguration"):
        sparse["properties"].pop(absent)
    pe = {"id": cache_id("locked-down") + "/privateEndpointConnections/pe1",
          "properties": {"privateEndpoint": {"id": "/subscriptions/6f1c7e3a-2b4d-4c1e-9f3a-0d2b8e5a7c11/"
                                                   "resourceGroups/rg-net/providers/Microsoft.Network/"
                                                   "privateEndpoints/pe1"},
                         "privateLinkServiceConnectionState": {"status": "Approved"},
                         "provisioningState": "Succeeded"}}
    return [
        sample_cache("payments-cache", properties={"enableNonSslPort": True},
                     firewall_rules=[("office", "81.2.69.0", "81.2.69.255"), ("vpn", "10.8.0.0", "10.8.0.255")],
                     diagnostic_settings=[{"name": "ops", "properties": {
                         "workspaceId": WORKSPACE, "logs": [{"categoryGroup": "audit", "enabled": True}]}}]),
        sample_cache("single-rule", firewall_rules=[("office", "81.2.69.0", "81.2.69.255")]),
        sample_cache("locked-down", properties={"publicNetworkAccess": "Disabled",
                                                "disableAccessKeyAuthentication": True,
                                                "privateEndpointConnections": [pe]},
                     firewall_rules=[("office", "81.2.69.0", "81.2.69.255")]),
        sparse,
        sample_cache("busy-cache", knobs={"busyForGets": 50}),
        sample_cache("slow-cache", knobs={"lroSeconds": 3600}),
        sample_cache("orders-a", resource_group="rg-orders"),
        sample_cache("orders-b", resource_group="rg-orders"),
        sample_cache("orders-c", resource_group="rg-orders"),
    ]


@pytest.fixture
def emulator_server() -> Iterator[EmulatorServer]:
    """A running emulator on the gateway fleet; LRO shape from WARDEN_TEST_LRO_SHAPE (default updating)."""
    with running_emulator(gateway_fleet()) as server:
        yield server


@pytest.fixture
def gateway(emulator_server: EmulatorServer) -> Gateway:
    return Gateway(emulator_server.arm_endpoint, ManagedIdentityCredential(), timeout=10, lro_wait_seconds=5,
                   polling_interval=0.0)
