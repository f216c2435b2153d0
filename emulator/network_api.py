"""Microsoft.Network, read only: the private DNS zone groups of a private endpoint (api-version 2023-09-01), and a
VNet-injected cache's subnet and the NSG on it (2026-03-01, azure-mgmt-network's default; NSG bodies shaped as
the recorded ones in reference/recordings/network).

public-network-access closes the public path only when an Approved private endpoint also has a private DNS
zone group (otherwise clients keep resolving the public address), so the warden lists
`.../privateEndpoints/{pe}/privateDnsZoneGroups`. The private endpoints known here are those the fleet's
caches connect through, plus any a fleet entry gives zone groups for (`privateDnsZoneGroups` beside
`properties`); another id answers ARM's 404, as a deleted private endpoint would.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

from . import errors
from .calls import Call, Reply
from .store import Store

API_VERSION = "2023-09-01"
# azure-mgmt-network 33.1.0's default for subnets and network security groups (remediators/arm/network.py)
SDK_API_VERSION = "2026-03-01"


@dataclass
class NetworkApi:
    store: Store

    def list_dns_zone_groups(self, call: Call, sub: str, rg: str, pe: str) -> Reply:
        pe_id = f"/subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.Network/privateEndpoints/{pe}"
        with self.store.lock:
            groups = self.store.private_endpoints.get(pe_id.lower())
            if groups is None:
                raise errors.not_found(f"Microsoft.Network/privateEndpoints/{pe}", rg)
            items = [copy.deepcopy(g) for g in groups]
        return Reply(200, {"value": sorted(items, key=lambda g: str(g.get("name", "")).lower())})

    def get_subnet(self, call: Call, sub: str, rg: str, vnet: str, subnet: str) -> Reply:
        subnet_id = (f"/subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.Network/virtualNetworks/{vnet}"
                     f"/subnets/{subnet}")
        with self.store.lock:
            body = self.store.subnets.get(subnet_id.lower())
            if body is None:
                raise errors.not_found(f"Microsoft.Network/virtualNetworks/{vnet}/subnets/{subnet}", rg)
            return Reply(200, copy.deepcopy(body))

    def get_nsg(self, call: Call, sub: str, rg: str, nsg: str) -> Reply:
        nsg_id = f"/subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.Network/networkSecurityGroups/{nsg}"
        with self.store.lock:
            body = self.store.network_security_groups.get(nsg_id.lower())
            if body is None:
                raise errors.not_found(f"Microsoft.Network/networkSecurityGroups/{nsg}", rg)
            return Reply(200, copy.deepcopy(body))
