"""Microsoft.Network (api-version 2023-09-01): the private DNS zone groups of a private endpoint, read only.

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
