"""nsg: the network security group on a VNet-injected cache's subnet does not open the Redis ports wide.

A Premium Azure Cache for Redis injected into a VNet (`properties.subnetId`) has no public endpoint and no
firewall rules of its own: the subnet's NSG is its perimeter, and no cache property shows what it admits.
Microsoft's guidance lists the inbound ports that matter: 6379/6380 (clients), 8443 (internal), 10221-10231
and 13000-13999 (cluster), 15000-15999 (geo-replication). An inbound Allow to any of them from `Internet`,
`*`/`Any`/`0.0.0.0/0`, or an address range wider than `maxSourceRangeSize` (default 256, the firewall
rule's maximum) is exposure. Detect only: an NSG is shared network infrastructure, not the warden's to edit.

Evaluation follows NSG semantics: rules apply in priority order (lower number first) and the first rule that
matches decides, so an Allow is reported only when no Deny of higher priority covers it entirely (same or
wider protocol, sources and ports). TCP only matters (Redis is TCP): a UDP or ICMP rule never matches.
Application security groups and service tags other than Internet (VirtualNetwork, AzureLoadBalancer, ...)
are not flagged. Unreadable rules make the finding `unknown`, never compliant.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ...ipranges import AddressSet, InvalidRange, parse_range
from ...models import CacheSnapshot, Effect, Severity, Status
from ...resource_ids import CacheKind
from ..base import RuleContext, RuleMetadata, Verdict
from ..common import manual
from ..frameworks import NETWORK

RULE_ID = "nsg"
REDIS_PORTS: tuple[tuple[int, int], ...] = ((6379, 6380), (8443, 8443), (10221, 10231), (13000, 13999),
                                             (15000, 15999))
DEFAULT_MAX_SOURCE_RANGE = 256
_ANY = {"*", "any", "internet", "0.0.0.0/0"}
_PORT = re.compile(r"^(\d{1,5})(?:-(\d{1,5}))?$")

METADATA = RuleMetadata(
    id=RULE_ID,
    frameworks=NETWORK,
    title="The injected subnet's NSG does not open the Redis ports to the Internet or wide ranges",
    severity=Severity.HIGH,
    rationale=(
        "A VNet-injected cache is only as closed as its subnet's network security group; an inbound allow "
        "from the Internet or a wide range to the Redis ports exposes it although no cache property shows it."
    ),
    resource_types=(CacheKind.REDIS,),
    default_effect=Effect.AUDIT,
    remediation_kind="manual",
    remediation=(
        "Narrow or remove the inbound rules the finding names in the subnet's NSG (sources: the client "
        "subnets or VirtualNetwork); the warden never edits NSGs."
    ),
    what_could_break="Nothing: detect only.",
    pitfalls=(
        "Only Premium caches with subnetId; private endpoints are the recommended path for new caches.",
        "The NSG may live in another resource group or subscription; reading it needs "
        "Microsoft.Network/virtualNetworks/subnets/read and Microsoft.Network/networkSecurityGroups/read there.",
        "A subnet without an NSG admits whatever the VNet routes to it: reported as a finding too.",
    ),
    needs=frozenset({"network_security_group"}),
)


class NsgUnreadable(ValueError):
    """A security rule the evaluation cannot read; the message names it."""


@dataclass(frozen=True)
class _Rule:
    name: str
    priority: int
    allow: bool
    tcp: bool
    sources: tuple[str, ...]
    ports: tuple[tuple[int, int], ...]


def _ports(props: Mapping[str, Any], name: str) -> tuple[tuple[int, int], ...]:
    raw = [props.get("destinationPortRange")] + _strings(props, "destinationPortRanges", name)
    out = []
    for text in (str(p).strip() for p in raw if p not in (None, "")):
        if text == "*":
            out.append((0, 65535))
            continue
        m = _PORT.match(text)
        if not m or int(m.group(1)) > 65535 or int(m.group(2) or m.group(1)) > 65535:
            raise NsgUnreadable(f"rule {name!r}: destination port {text!r}")
        out.append((int(m.group(1)), int(m.group(2) or m.group(1))))
    if not out:
        raise NsgUnreadable(f"rule {name!r} has no destination port")
    return tuple(out)


def _strings(props: Mapping[str, Any], key: str, name: str) -> list[Any]:
    """A list property (`destinationPortRanges`, `sourceAddressPrefixes`) as a list, or unreadable.

    A string here must not be iterated: "Internet" would read as eight one-letter service tags and hide the
    exposure it states."""
    value = props.get(key)
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise NsgUnreadable(f"rule {name!r}: {key} is not a list of strings")
    return value


def _scalar(props: Mapping[str, Any], key: str, name: str) -> str | int | None:
    value = props.get(key)
    if value is not None and (isinstance(value, bool) or not isinstance(value, str | int)):
        raise NsgUnreadable(f"rule {name!r}: {key} {value!r}")
    return value


def _parse(item: object) -> _Rule | None:
    """One inbound rule, or None for an outbound one. Anything not shaped as ARM returns it is unreadable."""
    if not isinstance(item, Mapping):
        raise NsgUnreadable(f"a security rule is not an object: {item!r:.60}")
    name = str(item.get("name", "?"))
    props = item.get("properties")
    if not isinstance(props, Mapping):
        raise NsgUnreadable(f"rule {name!r} has no properties object")
    direction = str(props.get("direction", "")).lower()
    if direction == "outbound":
        return None
    if direction != "inbound":
        raise NsgUnreadable(f"rule {name!r}: direction {props.get('direction')!r}")
    access = str(props.get("access", "")).lower()
    if access not in ("allow", "deny"):
        raise NsgUnreadable(f"rule {name!r}: access {props.get('access')!r}")
    priority = props.get("priority")
    if isinstance(priority, bool) or not isinstance(priority, int):
        raise NsgUnreadable(f"rule {name!r}: priority {priority!r}")
    protocol = str(props.get("protocol", "")).lower()
    sources = [_scalar(props, "sourceAddressPrefix", name)] + _strings(props, "sourceAddressPrefixes", name)
    _scalar(props, "destinationPortRange", name)
    return _Rule(
        name=name,
        priority=priority,
        allow=access == "allow",
        tcp=protocol in ("tcp", "*"),
        sources=tuple(str(s).strip() for s in sources if s not in (None, "")),
        ports=_ports(props, name),
    )


def _redis_ports(ports: Sequence[tuple[int, int]]) -> tuple[tuple[int, int], ...]:
    hit = []
    for lo, hi in ports:
        for rlo, rhi in REDIS_PORTS:
            if lo <= rhi and rlo <= hi:
                hit.append((max(lo, rlo), min(hi, rhi)))
    return tuple(hit)


def _interval(source: str) -> tuple[int, int]:
    """An address prefix as NSGs read it: a CIDR with host bits set means its network (the wider reading)."""
    if "/" in source:
        try:
            net = ipaddress.IPv4Network(source, strict=False)
        except ValueError as exc:
            raise NsgUnreadable(f"source {source!r}: {exc}") from exc
        return int(net.network_address), int(net.broadcast_address)
    try:
        return parse_range(source)
    except InvalidRange as exc:
        raise NsgUnreadable(f"source {source!r}: {exc}") from exc


def _wide(source: str, max_size: int) -> str | None:
    """Why this source is too broad, or None."""
    if source.lower() in _ANY:
        return f"source {source}"
    if not re.match(r"^[0-9./-]+$", source):
        return None  # a service tag (VirtualNetwork, AzureLoadBalancer, ...)
    lo, hi = _interval(source)
    size = hi - lo + 1
    return f"source {source} ({size} addresses, more than {max_size})" if size > max_size else None


def _covers(deny: _Rule, allow: _Rule, source: str, ports: tuple[tuple[int, int], ...]) -> bool:
    """True when `deny` matches every packet `allow` admits from `source` to `ports`."""
    if not deny.tcp:
        return False
    port_ok = all(any(dlo <= lo and hi <= dhi for dlo, dhi in deny.ports) for lo, hi in ports)
    if not port_ok:
        return False
    if any(s.lower() in ("*", "any", "0.0.0.0/0") for s in deny.sources):
        return True
    if source.lower() in _ANY:
        return any(s.lower() == source.lower() for s in deny.sources)
    try:
        wanted = AddressSet.of(_interval(source))
        denied = AddressSet(tuple(_interval(s) for s in deny.sources if re.match(r"^[0-9./-]+$", s)))
    except NsgUnreadable:
        return False
    return wanted.issubset(denied)


def exposures(nsg: Mapping[str, Any], max_source_range: int = DEFAULT_MAX_SOURCE_RANGE) -> list[str]:
    """Inbound allows to the Redis ports from too-broad sources that no higher-priority Deny shadows."""
    props = nsg.get("properties")
    if not isinstance(props, Mapping):
        raise NsgUnreadable("the NSG has no properties object")
    items = []
    for key in ("securityRules", "defaultSecurityRules"):
        listed = props.get(key)
        if listed is not None and not isinstance(listed, list):
            raise NsgUnreadable(f"{key} is not a list")
        items += listed or []
    rules = sorted((r for r in (_parse(i) for i in items) if r is not None), key=lambda r: r.priority)
    found = []
    for index, rule in enumerate(rules):
        if not rule.allow or not rule.tcp:
            continue
        ports = _redis_ports(rule.ports)
        if not ports:
            continue
        for source in rule.sources:
            why = _wide(source, max_source_range)
            if why is None:
                continue
            if any(not d.allow and _covers(d, rule, source, ports) for d in rules[:index]):
                continue
            shown = ", ".join(f"{lo}" if lo == hi else f"{lo}-{hi}" for lo, hi in ports)
            found.append(f"{rule.name} (priority {rule.priority}) allows {why} to port(s) {shown}")
    return found


class NsgRule:
    metadata = METADATA

    def evaluate(self, snapshot: CacheSnapshot, ctx: RuleContext) -> Verdict:
        if snapshot.cache_id.kind is not CacheKind.REDIS:
            return Verdict(Status.NOT_APPLICABLE, "Azure Managed Redis is not injected into a subnet")
        subnet = snapshot.properties.get("subnetId")
        if not subnet:
            return Verdict(Status.NOT_APPLICABLE, "not injected into a VNet (no subnetId)")
        if snapshot.network_security_group_error:
            error = snapshot.network_security_group_error
            return Verdict(Status.UNKNOWN, f"the subnet's NSG could not be read: {error}")
        nsg = snapshot.network_security_group
        if nsg is None:
            return Verdict(Status.UNKNOWN, "the subnet's network security group was not read")
        if not nsg:
            return manual(
                "the cache's subnet has no network security group",
                "Associate an NSG with the subnet that admits the Redis ports only from the client subnets.",
                before={"subnetId": subnet},
            )
        size = ctx.params.get("maxSourceRangeSize", DEFAULT_MAX_SOURCE_RANGE)
        if isinstance(size, bool) or not isinstance(size, int) or size < 1:
            return Verdict(Status.UNKNOWN, "maxSourceRangeSize must be a positive integer")
        try:
            found = exposures(nsg, size)
        except NsgUnreadable as exc:
            return Verdict(Status.UNKNOWN, f"the NSG is unreadable: {exc}")
        nsg_id = nsg.get("id")
        if not found:
            return Verdict(Status.COMPLIANT, "no inbound rule opens the Redis ports wide", before={"nsg": nsg_id})
        return manual(
            "; ".join(found),
            f"Narrow the sources of these rules in {nsg_id or 'the NSG'} to the client subnets.",
            before={"nsg": nsg_id, "exposures": found},
        )


RULE = NsgRule()
