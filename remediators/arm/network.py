"""Microsoft.Network: the private DNS zone groups of a cache's private endpoints, and the subnet and network
security group of a VNet-injected cache.

The DNS zone group list goes through the session's plain ARM pipeline (a list of small bodies needs no SDK
models). The subnet and NSG GETs go through the official `azure-mgmt-network` client with the session's
policies and `cls=raw_json`, so the nsg rule sees ARM's body as sent. `properties.subnetId` comes from the
cache body and `properties.networkSecurityGroup.id` from the subnet body, so both are someone else's data:
each must be exactly an ARM id of that type (ASCII names, a GUID subscription) before it becomes a request
path. The outcome for the snapshot is `(nsg_body, None)`, `({}, None)` when the subnet has no NSG, or
`(None, reason)` when something could not be read (403 on another team's VNet, 404, a hostile id): the rule
then reports `unknown` with the reason, never compliant."""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from ..models import PrivateEndpointConnection
from ..resource_ids import InvalidResourceId, parse_private_endpoint_id
from .errors import ArmError
from .pipeline import ArmSession, raw_json

log = logging.getLogger(__name__)

NETWORK_API_VERSION = "2023-09-01"

# Microsoft's operations list for Microsoft.Network (e.g. in the built-in role "Windows 365 Network User",
# 7eabc9a4...: "Gets a virtual network subnet definition") names the two reads of a VNet-injected cache.
ACTIONS = frozenset({
    "Microsoft.Network/privateEndpoints/privateDnsZoneGroups/read",
    "Microsoft.Network/virtualNetworks/subnets/read",
    "Microsoft.Network/networkSecurityGroups/read",
})

_GUID = r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
_RG = r"[A-Za-z0-9_.()\-]{1,90}"
_NAME = r"[A-Za-z0-9](?:[A-Za-z0-9_.\-]{0,78}[A-Za-z0-9_])?"
SUBNET_ID = re.compile(
    rf"^/subscriptions/(?P<sub>{_GUID})/resourceGroups/(?P<rg>{_RG})/providers/Microsoft\.Network"
    rf"/virtualNetworks/(?P<vnet>{_NAME})/subnets/(?P<subnet>{_NAME})$",
    re.IGNORECASE,
)
NSG_ID = re.compile(
    rf"^/subscriptions/(?P<sub>{_GUID})/resourceGroups/(?P<rg>{_RG})/providers/Microsoft\.Network"
    rf"/networkSecurityGroups/(?P<nsg>{_NAME})$",
    re.IGNORECASE,
)


class Network:
    def __init__(self, session: ArmSession) -> None:
        self.session = session

    def with_dns_zone_groups(
        self, connections: tuple[PrivateEndpointConnection, ...]
    ) -> tuple[PrivateEndpointConnection, ...]:
        """Fill `private_dns_zone_groups` for Approved connections (the only ones public-network-access can
        rely on), one list call per private endpoint. A private endpoint that no longer exists has none; one
        we may not read (403, another team's subscription) stays None = not read, never "present"."""
        found: dict[str, tuple[str, ...] | None] = {}
        out = []
        for conn in connections:
            raw = conn.private_endpoint_id
            if not raw or str(conn.status).lower() != "approved":
                out.append(conn)
                continue
            try:
                # Parsed strictly before it becomes a URL: an id like `.attacker.example/...` or `@host/...`
                # would otherwise move the request (and the token) to another host.
                pe = parse_private_endpoint_id(raw)
            except InvalidResourceId as exc:
                log.warning("private endpoint id of a connection refused: %s", exc)
                out.append(replace(conn, private_dns_zone_groups=None))
                continue
            key = pe.lower()
            if key not in found:
                try:
                    groups = self.session.list(pe + "/privateDnsZoneGroups", NETWORK_API_VERSION)
                    found[key] = tuple(str(g.get("name") or str(g.get("id", "")).rsplit("/", 1)[-1]) for g in groups)
                except ArmError as exc:
                    if exc.kind == "gone":
                        found[key] = ()
                    elif exc.kind in ("blocked", "invalid"):
                        log.warning("private DNS zone groups of %s not readable: %s", pe, exc)
                        found[key] = None
                    else:
                        raise
            out.append(replace(conn, private_dns_zone_groups=found[key]))
        return tuple(out)

    def with_dns_when_needed(
        self, connections: tuple[PrivateEndpointConnection, ...], public_network_access: object,
        needs: frozenset[str],
    ) -> tuple[PrivateEndpointConnection, ...]:
        """DNS zone groups are read only when asked for and only while public access is not already Disabled
        (nothing else uses them)."""
        if "private_dns_zone_groups" in needs and str(public_network_access).lower() != "disabled":
            return self.with_dns_zone_groups(connections)
        return connections

    def subnet_nsg(self, subnet_id: object) -> tuple[Mapping[str, Any] | None, str | None]:
        """(NSG GET body, None), ({}, None) for a subnet without an NSG, or (None, why it was not read)."""
        match = SUBNET_ID.match(subnet_id) if isinstance(subnet_id, str) else None
        if match is None:
            return None, f"subnetId {subnet_id!r} is not a subnet id"
        # Imported on first use: only VNet-injected caches need it, so an event never pays for it (cold start).
        from azure.mgmt.network import NetworkManagementClient

        s = self.session
        try:
            client = s.client(NetworkManagementClient, match["sub"])
            subnet = s.call(lambda: client.subnets.get(match["rg"], match["vnet"], match["subnet"],
                                                       cls=raw_json, **s.timeouts))
            nsg_ref = ((subnet or {}).get("properties") or {}).get("networkSecurityGroup")
            if not nsg_ref:
                return {}, None
            nsg_id = nsg_ref.get("id") if isinstance(nsg_ref, Mapping) else None
            nsg_match = NSG_ID.match(nsg_id) if isinstance(nsg_id, str) else None
            if nsg_match is None:
                return None, f"the subnet names NSG {nsg_id!r}, which is not a network security group id"
            nsg_client = s.client(NetworkManagementClient, nsg_match["sub"])
            nsg = s.call(lambda: nsg_client.network_security_groups.get(
                nsg_match["rg"], nsg_match["nsg"], cls=raw_json, **s.timeouts))
        except ArmError as exc:
            if exc.kind in ("throttled", "transient", "busy"):
                raise
            return None, str(exc)
        if not isinstance(nsg, Mapping):
            return None, "ARM returned an empty body for the NSG"
        return nsg, None
