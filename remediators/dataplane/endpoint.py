"""Where to connect: a cache's TLS endpoint, taken from its ARM body only when it is an Azure Redis host.

The host name in an ARM body is data someone else could have shaped (a compromised subscription, a hostile
ARM double in tests). Sending our Entra access token to it would hand an attacker a token that every cache
granting us a data access policy accepts, so the name must be a plain DNS name under one of the suffixes
Azure gives caches, and the port must be the TLS port. Anything else is refused with a reason; the caller
reports the finding as `unknown`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..resource_ids import CacheKind

# Azure Cache for Redis: <name>.redis.cache.windows.net (sovereign clouds: chinacloudapi.cn,
# usgovcloudapi.net). Azure Managed Redis: <name>.<region>.redis.azure.net; the older Enterprise tiers
# <name>.<region>.redisenterprise.cache.azure.net.
HOST_SUFFIXES: Mapping[CacheKind, tuple[str, ...]] = {
    CacheKind.REDIS: (".redis.cache.windows.net", ".redis.cache.chinacloudapi.cn", ".redis.cache.usgovcloudapi.net"),
    CacheKind.REDIS_ENTERPRISE: (".redis.azure.net", ".redisenterprise.cache.azure.net"),
}
_LABEL = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")
ACR_TLS_PORT = 6380
AMR_PORT = 10000  # TLS and plaintext share it; the client below always speaks TLS


class EndpointError(ValueError):
    """The ARM body does not name an Azure Redis TLS endpoint we may send a token to."""


@dataclass(frozen=True)
class RedisEndpoint:
    host: str
    port: int


def _valid_host(host: object, kind: CacheKind) -> str:
    if not isinstance(host, str) or not host or len(host) > 253:
        raise EndpointError(f"hostName {host!r} is not a DNS name")
    lowered = host.lower()
    if not all(_LABEL.match(label) for label in lowered.split(".")):
        raise EndpointError(f"hostName {host!r} is not a plain DNS name")
    if not any(lowered.endswith(s) and len(lowered) > len(s) for s in HOST_SUFFIXES[kind]):
        raise EndpointError(
            f"hostName {host!r} is not under an Azure Redis suffix ({', '.join(HOST_SUFFIXES[kind])})"
        )
    return lowered


def endpoint_from_arm(
    kind: CacheKind, resource: Mapping[str, Any], database: Mapping[str, Any] | None = None
) -> RedisEndpoint:
    """The TLS endpoint of a cache from its ARM GET body (and, for Azure Managed Redis, its database)."""
    props = resource.get("properties") or {}
    host = _valid_host(props.get("hostName"), kind)
    if kind is CacheKind.REDIS:
        port = props.get("sslPort", ACR_TLS_PORT)
        if port != ACR_TLS_PORT:
            raise EndpointError(f"sslPort {port!r} is not Azure Cache for Redis's TLS port {ACR_TLS_PORT}")
        return RedisEndpoint(host, ACR_TLS_PORT)
    db_props = (database or {}).get("properties") or {}
    port = db_props.get("port", AMR_PORT)
    if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535:
        raise EndpointError(f"database port {port!r} is not a TCP port")
    return RedisEndpoint(host, port)
