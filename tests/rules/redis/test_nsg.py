"""The nsg rule over NSG bodies shaped like recorded ARM traffic (reference/recordings/network, from
azure-cli's test_network_nsg recording), with security rules added the way ARM returns them."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from emulator.spec import REFERENCE_ROOT
from remediators.models import CacheSnapshot, ManualFix, Status
from remediators.resource_ids import parse_cache_id
from remediators.rules import rule_by_id
from remediators.rules.base import RuleContext

RECORDED = REFERENCE_ROOT / "recordings" / "network"
SUB = "11111111-2222-3333-4444-555555555555"
CACHE = f"/subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.Cache/Redis/premium1"
SUBNET = f"/subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.Network/virtualNetworks/vnet/subnets/redis"


def recorded_nsg() -> dict[str, Any]:
    return json.loads((RECORDED / "nsg-get.json").read_text())


def rule(name: str, priority: int, source: str | list[str], ports: str | list[str], *, access: str = "Allow",
         protocol: str = "Tcp", direction: str = "Inbound") -> dict[str, Any]:
    """A security rule in the recorded shape (security-rule-get.json), both singular and plural fields."""
    body = json.loads((RECORDED / "security-rule-get.json").read_text())
    body["name"] = name
    p = body["properties"]
    p.update(access=access, priority=priority, protocol=protocol, direction=direction,
             sourceAddressPrefix=source if isinstance(source, str) else "",
             sourceAddressPrefixes=[] if isinstance(source, str) else source,
             destinationPortRange=ports if isinstance(ports, str) else "",
             destinationPortRanges=[] if isinstance(ports, str) else ports, destinationAddressPrefix="*")
    return body


def nsg_with(*rules: dict[str, Any]) -> dict[str, Any]:
    body = recorded_nsg()
    body["properties"]["securityRules"] = list(rules)
    return body


def judge(nsg: Any, *, subnet: str | None = SUBNET, error: str | None = None, **params: Any):
    props = {"subnetId": subnet} if subnet else {}
    snap = CacheSnapshot(cache_id=parse_cache_id(CACHE), resource={"properties": props},
                         network_security_group=nsg, network_security_group_error=error)
    return rule_by_id("nsg").evaluate(snap, RuleContext(params=params))


def test_the_recorded_default_rules_are_compliant() -> None:
    assert judge(recorded_nsg()).status is Status.COMPLIANT


@pytest.mark.parametrize("source, ports", [
    ("Internet", "6380"), ("*", "6379-6380"), ("0.0.0.0/0", "10221-10231"), ("Any", "*"),
    ("203.0.113.0/23", "13000-13999"), (["10.0.0.0/24", "198.51.100.0/22"], ["15000-15999"]),
    ("Internet", ["443", "8443"]),
])
def test_wide_inbound_allows_to_redis_ports_are_flagged(source: Any, ports: Any) -> None:
    v = judge(nsg_with(rule("open", 100, source, ports)))
    assert v.status is Status.NON_COMPLIANT and isinstance(v.remediation, ManualFix)
    assert "open (priority 100)" in v.reason


@pytest.mark.parametrize("body", [
    rule("narrow", 100, "203.0.113.0/24", "6380"),  # 256 addresses: the maximum
    rule("vnet", 100, "VirtualNetwork", "6379-6380"),
    rule("lb", 100, "AzureLoadBalancer", "*"),
    rule("web", 100, "Internet", "443"),
    rule("udp", 100, "Internet", "6380", protocol="Udp"),
    rule("out", 100, "*", "6380", direction="Outbound"),
    rule("deny", 100, "Internet", "6380", access="Deny"),
])
def test_narrow_tagged_other_port_protocol_direction_or_deny_is_fine(body: dict[str, Any]) -> None:
    assert judge(nsg_with(body)).status is Status.COMPLIANT


def test_a_higher_priority_deny_shadows_an_allow_but_a_lower_one_does_not() -> None:
    allow = rule("open", 300, "Internet", "6380")
    assert judge(nsg_with(rule("block", 200, "*", "*", access="Deny", protocol="*"), allow)).status is Status.COMPLIANT
    assert judge(nsg_with(rule("block", 400, "*", "*", access="Deny"), allow)).status is Status.NON_COMPLIANT
    partial = rule("block", 200, "Internet", "6379", access="Deny")  # 6380 still open
    assert judge(nsg_with(partial, allow)).status is Status.NON_COMPLIANT
    udp_only = rule("block", 200, "*", "*", access="Deny", protocol="Udp")
    assert judge(nsg_with(udp_only, allow)).status is Status.NON_COMPLIANT
    wide = rule("wide", 300, "198.51.100.0/22", "6380")
    covering = rule("block", 200, ["198.51.100.0/23", "198.51.102.0/23"], "6000-7000", access="Deny")
    assert judge(nsg_with(covering, wide)).status is Status.COMPLIANT


def test_the_source_size_limit_is_a_parameter() -> None:
    body = nsg_with(rule("office", 100, "203.0.113.0/23", "6380"))
    assert judge(body, maxSourceRangeSize=512).status is Status.COMPLIANT
    assert judge(body).status is Status.NON_COMPLIANT


def test_unreadable_rules_are_unknown_never_compliant() -> None:
    recorded = json.loads((RECORDED / "security-rule-get.json").read_text())  # source "789", as recorded
    recorded["properties"]["destinationPortRange"] = "6380"
    assert judge(nsg_with(recorded)).status is Status.UNKNOWN
    broken = copy.deepcopy(rule("x", 100, "Internet", "63x80"))
    assert judge(nsg_with(broken)).status is Status.UNKNOWN
    bad_priority = rule("x", 100, "Internet", "6380")
    bad_priority["properties"]["priority"] = "100"
    assert judge(nsg_with(bad_priority)).status is Status.UNKNOWN


def test_no_subnet_no_nsg_unread_and_errors() -> None:
    assert judge(None, subnet=None).status is Status.NOT_APPLICABLE
    assert judge(None).status is Status.UNKNOWN
    v = judge(None, error="403 AuthorizationFailed on the subnet")
    assert v.status is Status.UNKNOWN and "403" in v.reason
    v = judge({})
    assert v.status is Status.NON_COMPLIANT and "no network security group" in v.reason


@pytest.mark.parametrize("crafted", [
    "not-a-rule",
    {"name": "x", "properties": "Allow everything"},
    {"name": "x"},
], ids=["rule-is-a-string", "properties-is-a-string", "no-properties"])
def test_a_crafted_rule_item_is_unknown_not_a_crash(crafted: Any) -> None:
    assert judge(nsg_with(crafted)).status is Status.UNKNOWN


@pytest.mark.parametrize("field, value", [
    ("sourceAddressPrefixes", "Internet"),  # iterated, it would read as one-letter service tags: no finding
    ("destinationPortRanges", "6380"),  # iterated, it would read as ports 6, 3, 8 and 0: no finding
    ("sourceAddressPrefixes", [["Internet"]]),
    ("sourceAddressPrefix", ["Internet"]),
    ("destinationPortRange", {"from": 6380}),
])
def test_a_list_field_given_as_something_else_is_unknown_never_compliant(field: str, value: Any) -> None:
    crafted = rule("open", 100, "10.0.0.0/24", "22")
    crafted["properties"][field] = value
    assert judge(nsg_with(crafted)).status is Status.UNKNOWN


@pytest.mark.parametrize("properties", ["x", None, {"securityRules": "x"}, {"defaultSecurityRules": {"a": 1}}])
def test_a_crafted_nsg_body_is_unknown(properties: Any) -> None:
    body = recorded_nsg()
    body["properties"] = properties
    assert judge(body).status is Status.UNKNOWN
