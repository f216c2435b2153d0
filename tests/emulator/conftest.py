"""Fixtures for the emulator's own tests: a running server on a small default fleet, and a raw HTTPS client
that talks to it the way curl would (so refusals can be checked byte for byte)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from emulator.server import EmulatorServer
from emulator.testing import RawArm, cache_id, running_emulator, sample_cache

PE_ID = (
    "/subscriptions/6f1c7e3a-2b4d-4c1e-9f3a-0d2b8e5a7c11/resourceGroups/rg-net/providers/"
    "Microsoft.Network/privateEndpoints/pe-ledger"
)


def default_fleet() -> list[dict[str, Any]]:
    pec = {
        "id": cache_id("ledger-cache", "rg-ledger") + "/privateEndpointConnections/pe1",
        "properties": {
            "privateEndpoint": {"id": PE_ID},
            "privateLinkServiceConnectionState": {"status": "Approved", "description": "ok"},
            "provisioningState": "Succeeded",
        },
    }
    return [
        sample_cache("payments-cache", firewall_rules=[("office", "81.2.69.0", "81.2.69.255")]),
        sample_cache("orders-cache"),
        sample_cache("busy-cache", knobs={"busyForGets": 2}),
        sample_cache("ledger-cache", resource_group="rg-ledger",
                     properties={"publicNetworkAccess": "Disabled", "privateEndpointConnections": [pec]}),
    ]


@pytest.fixture
def emulator_server() -> Iterator[EmulatorServer]:
    """A running emulator on the default fleet; LRO shape from WARDEN_TEST_LRO_SHAPE (default updating)."""
    with running_emulator(default_fleet()) as server:
        yield server


@pytest.fixture
def arm(emulator_server: EmulatorServer) -> RawArm:
    return RawArm(emulator_server)
