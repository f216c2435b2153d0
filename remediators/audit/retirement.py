"""Retirement of the older Redis products, for `report`: which date applies to a cache, and the Azure
Managed Redis settings its replacement should have.

Facts (reference/rule-catalog.md, "Product retirement", from Azure update 499577 and the retirement FAQ as
quoted by PSRule Azure.Redis.MigrateAMR / Azure.RedisEnterprise.MigrateAMR): Azure Cache for Redis Basic,
Standard and Premium (`Microsoft.Cache/redis`) retire on 30/09/2028; the Enterprise and Enterprise Flash SKUs
of `Microsoft.Cache/redisEnterprise` (`Enterprise_*`, `EnterpriseFlash_*`) on 31/03/2027. Azure Managed Redis
SKUs (Balanced, MemoryOptimized, ComputeOptimized, FlashOptimized) are the replacement and do not retire.

The target settings are redis-warden's own baseline for Azure Managed Redis, so a migrated cache starts
compliant instead of being remediated after the move. Pure data; no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

REDIS_RETIREMENT = date(2028, 9, 30)
ENTERPRISE_RETIREMENT = date(2027, 3, 31)
_ENTERPRISE_SKU_PREFIXES = ("enterprise_", "enterpriseflash_")

TARGET_SETTINGS: dict[str, Any] = {
    "type": "Microsoft.Cache/redisEnterprise",
    "apiVersion": "2025-07-01",
    "sku": "an Azure Managed Redis SKU (Balanced, MemoryOptimized, ComputeOptimized or FlashOptimized) sized "
           "for the cache's memory and throughput",
    "cluster": {"minimumTlsVersion": "1.2", "publicNetworkAccess": "Disabled (with an approved private endpoint "
                "and a privatelink.redis.azure.net DNS zone group)"},
    "database default": {"clientProtocol": "Encrypted", "accessKeysAuthentication": "Disabled (after Entra "
                         "access policy assignments for every application)"},
    "diagnostic setting on databases/default": "ConnectionEvents to the Log Analytics workspace",
    "encryption": "customer-managed key where policy 09aa11bb applies",
}


@dataclass(frozen=True)
class Retirement:
    product: str
    retires: date

    def as_dict(self) -> dict[str, Any]:
        return {"product": self.product, "retires": self.retires.isoformat(),
                "retires_uk": self.retires.strftime("%d/%m/%Y"), "move_to": TARGET_SETTINGS}


def retirement(cache_id: str, sku_name: str | None = None) -> Retirement | None:
    """The retirement that applies to a cache, from its ARM id (and, for a redisEnterprise cluster, its SKU
    name, which only tells Enterprise/Enterprise Flash apart from Azure Managed Redis); None = not retiring
    or not known."""
    lowered = cache_id.lower()
    if "/providers/microsoft.cache/redis/" in lowered:
        return Retirement("Azure Cache for Redis (Basic, Standard, Premium)", REDIS_RETIREMENT)
    if "/providers/microsoft.cache/redisenterprise/" in lowered and sku_name \
            and sku_name.lower().startswith(_ENTERPRISE_SKU_PREFIXES):
        return Retirement("Azure Cache for Redis Enterprise / Enterprise Flash", ENTERPRISE_RETIREMENT)
    return None
