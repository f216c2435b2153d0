"""The subnet + NSG read of a VNet-injected cache, through the real azure-mgmt-network client over HTTPS
against the emulator (whose NSG bodies are shaped as the recorded ones in reference/recordings/network).
This proves our code against our emulator only; the NSG shape itself comes from the recording."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from azure.identity import ManagedIdentityCredential

from emulator.principals import SUBSCRIPTION_ID
from emulator.server import EmulatorServer
from emulator.spec import REFERENCE_ROOT
from emulator.testing import cache_id, running_emulator, sample_cache
from remediators.arm.gateway import Gateway
from remediators.resource_ids import parse_cache_id
from remediators.rules import rule_by_id
from remediators.rules.base import RuleContext

NET = f"/subscriptions/{SUBSCRIPTION_ID}/resourceGroups/rg-net/providers/Microsoft.Network"
SUBNET = f"{NET}/virtualNetworks/vnet-app/subnets/redis"
NSG_ID = f"{NET}/networkSecurityGroups/nsg-redis"
NEEDS = frozenset({"network_security_group"})


def recorded_nsg(*rules: dict[str, Any]) -> dict[str, Any]:
    body = json.loads((REFERENCE_ROOT / "recordings" / "network" / "nsg-get.json").read_text())
    body["id"], body["name"] = NSG_ID, "nsg-redis"
    body["properties"]["securityRules"] = list(rules)
    return body


OPEN = {"name": "open-redis", "properties": {
    "protocol": "Tcp", "sourcePortRange": "*", "destinationPortRange": "6380", "sourceAddressPrefix": "Internet",
    "destinationAddressPrefix": "*", "access": "Allow", "priority": 100, "direction": "Inbound",
    "sourcePortRanges": [], "destinationPortRanges": [], "sourceAddressPrefixes": [],
    "destinationAddressPrefixes": []}}


def _premium(name: str, subnet: str, nsg: dict[str, Any] | None = None) -> dict[str, Any]:
    entry = sample_cache(name, properties={"subnetId": subnet, "publicNetworkAccess": "Disabled",
                                           "sku": {"name": "Premium", "family": "P", "capacity": 1}})
    if nsg is not None:
        entry["networkSecurityGroup"] = nsg
    return entry


@pytest.fixture
def server() -> Iterator[EmulatorServer]:
    fleet = [
        _premium("injected-open", SUBNET, recorded_nsg(OPEN)),
        _premium("injected-bare", f"{NET}/virtualNetworks/vnet-app/subnets/bare"),
        _premium("injected-hostile", "https://evil.example/subscriptions/x"),
        sample_cache("public-cache"),
    ]
    with running_emulator(fleet) as srv:
        yield srv


@pytest.fixture
def gateway(server: EmulatorServer) -> Gateway:
    return Gateway(server.arm_endpoint, ManagedIdentityCredential(), timeout=10, polling_interval=0.0)


def test_reads_subnet_then_nsg_and_the_rule_flags_the_open_port(server: EmulatorServer, gateway: Gateway) -> None:
    snap = gateway.read(parse_cache_id(cache_id("injected-open")), NEEDS)
    assert snap.network_security_group is not None and snap.network_security_group["id"] == NSG_ID
    verdict = rule_by_id("nsg").evaluate(snap, RuleContext())
    assert verdict.status.value == "non_compliant" and "open-redis" in verdict.reason
    paths = [r["path"].lower() for r in server.requests() if r["method"] == "GET"]
    assert SUBNET.lower() in paths and NSG_ID.lower() in paths


def test_a_subnet_without_nsg_is_an_empty_body_and_nothing_else_is_read(server: EmulatorServer,
                                                                       gateway: Gateway) -> None:
    snap = gateway.read(parse_cache_id(cache_id("injected-bare")), NEEDS)
    assert snap.network_security_group == {} and snap.network_security_group_error is None
    assert not any("networksecuritygroups" in r["path"].lower() for r in server.requests())


def test_a_hostile_subnet_id_is_never_requested(server: EmulatorServer, gateway: Gateway) -> None:
    snap = gateway.read(parse_cache_id(cache_id("injected-hostile")), NEEDS)
    assert snap.network_security_group is None and "not a subnet id" in str(snap.network_security_group_error)
    assert not any("evil" in r["path"] for r in server.requests())
    assert rule_by_id("nsg").evaluate(snap, RuleContext()).status.value == "unknown"


def test_a_cache_without_subnet_costs_no_network_call(server: EmulatorServer, gateway: Gateway) -> None:
    snap = gateway.read(parse_cache_id(cache_id("public-cache")), NEEDS)
    assert snap.network_security_group is None
    assert not any("microsoft.network" in r["path"].lower() for r in server.requests())


@pytest.mark.parametrize("value", [
    f"{NET}/virtualNetworks/v/subnets/s/../../x", f"{NET}/virtualNetworks/v", "/subscriptions/not-a-guid/"
    "resourceGroups/rg/providers/Microsoft.Network/virtualNetworks/v/subnets/s", None, 42,
    f"{NET}/virtualNetworks/v/subnets/s?api-version=1", f"https://management.azure.com{SUBNET}",
])
def test_subnet_ids_follow_arm_grammar(value: object) -> None:
    from remediators.arm.network import SUBNET_ID

    assert not (isinstance(value, str) and SUBNET_ID.match(value))
