"""ARM response bodies -> snapshot parts. Shared by the gateway (live reads) and `evaluate` (saved bodies),
so a cache evaluated offline from `az rest` output is judged exactly like one read live."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from ..models import (
    CacheSnapshot,
    DiagnosticLog,
    DiagnosticSetting,
    FirewallRule,
    PrivateEndpointConnection,
)
from ..resource_ids import (
    ENTERPRISE_NAME_PATTERN,
    CacheKind,
    InvalidResourceId,
    ResourceId,
    Scope,
    parse_cache_id,
    shown,
    valid_enterprise_name,
)

log = logging.getLogger(__name__)


class InvalidBody(ValueError):
    """An ARM body does not have the shape the API documents; the message names the field."""


def _items(body: Any, what: str) -> Iterable[Mapping[str, Any]]:
    """A list-API body (`{"value": [...]}`) or a bare list of items."""
    items = body.get("value") if isinstance(body, Mapping) else body
    if not isinstance(items, list) or not all(isinstance(i, Mapping) for i in items):
        raise InvalidBody(f"{what}: expected a list body with a 'value' array of objects")
    return items


def firewall_rules(body: Any) -> tuple[FirewallRule, ...]:
    rules = []
    for i, item in enumerate(_items(body, "firewall rules")):
        props = item.get("properties") or {}
        start, end = props.get("startIP"), props.get("endIP")
        name = item.get("name")
        if not isinstance(name, str) or not isinstance(start, str) or not isinstance(end, str):
            raise InvalidBody(f"firewall rules: value[{i}] needs name, properties.startIP and properties.endIP")
        rules.append(FirewallRule(name=name.rsplit("/", 1)[-1], start_ip=start, end_ip=end))
    return tuple(rules)


def diagnostic_settings(body: Any) -> tuple[DiagnosticSetting, ...]:
    out = []
    for i, item in enumerate(_items(body, "diagnostic settings")):
        props = item.get("properties") or {}
        logs = []
        for entry in props.get("logs") or []:
            if not isinstance(entry, Mapping):
                raise InvalidBody(f"diagnostic settings: value[{i}].properties.logs holds a non-object")
            logs.append(
                DiagnosticLog(
                    category=entry.get("category"),
                    category_group=entry.get("categoryGroup"),
                    enabled=bool(entry.get("enabled")),
                )
            )
        name = item.get("name")
        if not isinstance(name, str):
            raise InvalidBody(f"diagnostic settings: value[{i}].name missing")
        out.append(DiagnosticSetting(name=name, workspace_id=props.get("workspaceId"), logs=tuple(logs)))
    return tuple(out)


def diagnostic_categories(body: Any) -> tuple[str, ...]:
    names = []
    for item in _items(body, "diagnostic settings categories"):
        props = item.get("properties") or {}
        if props.get("categoryType", "Logs") == "Logs" and isinstance(item.get("name"), str):
            names.append(item["name"])
    return tuple(names)


def private_endpoint_connection(item: Mapping[str, Any]) -> PrivateEndpointConnection:
    """One connection as ARM lists it; the name is the connection's own (last id segment). Nested parts of
    the wrong type count as absent: the connection is then not Approved, which is the safe reading."""
    props = _mapping(item.get("properties"))
    return PrivateEndpointConnection(
        name=str(item.get("name") or item.get("id", "")).rsplit("/", 1)[-1],
        status=_mapping(props.get("privateLinkServiceConnectionState")).get("status"),
        private_endpoint_id=_mapping(props.get("privateEndpoint")).get("id"),
        provisioning_state=props.get("provisioningState"),
    )


def private_endpoint_connections(resource: Mapping[str, Any]) -> tuple[PrivateEndpointConnection, ...]:
    """Connections inline in a cache or cluster GET body (`properties.privateEndpointConnections`); the live
    gateway and the rules' fallback read them through here. A non-object entry carries no connection."""
    items = _mapping(resource.get("properties")).get("privateEndpointConnections")
    if not isinstance(items, list):
        return ()
    return tuple(private_endpoint_connection(item) for item in items if isinstance(item, Mapping))


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def snapshot(
    resource: Mapping[str, Any],
    *,
    cache: ResourceId | None = None,
    firewall: Any = None,
    diagnostics: Any = None,
    categories: Any = None,
    linked_servers: Any = None,
    databases: Any = None,
    nsg: Any = None,
    read_at: datetime | None = None,
) -> CacheSnapshot:
    """Build a snapshot from raw bodies; a child body left as None stays None (= not read = unknown).
    `databases` (Azure Managed Redis) are database GET bodies or list bodies of this cluster; `nsg` is the GET
    body of the network security group on a VNet-injected cache's subnet."""
    if not isinstance(resource, Mapping):
        raise InvalidBody("cache: expected the JSON object of a cache GET")
    if cache is None:
        if "id" not in resource:
            raise InvalidBody("cache: 'id' missing")
        cache = parse_cache_id(resource["id"])
    if not isinstance(resource.get("properties", {}), Mapping):
        raise InvalidBody("cache: 'properties' must be an object")
    return CacheSnapshot(
        cache_id=cache,
        resource=resource,
        firewall_rules=firewall_rules(firewall) if firewall is not None else None,
        private_endpoint_connections=private_endpoint_connections(resource),
        diagnostic_settings=diagnostic_settings(diagnostics) if diagnostics is not None else None,
        diagnostic_categories=diagnostic_categories(categories) if categories is not None else None,
        linked_servers=tuple(_items(linked_servers, "linked servers")) if linked_servers is not None else None,
        databases=cluster_databases(cache, databases) if databases is not None else None,
        network_security_group=network_security_group(nsg) if nsg is not None else None,
        read_at=read_at or datetime.now(UTC),
    )


REFUSED_KEPT = 20  # refused ids quoted in the audit record; the count says how many there were


@dataclass(frozen=True)
class RefusedId:
    reason: str
    row_id: str  # the id as ARM sent it, ASCII-escaped and cut (it may be anything)


@dataclass(frozen=True)
class Listed:
    """The caches of one list answer, and the ids in it that were refused: outside ARM's grammar, or not in
    the scope that was listed (a crafted answer could name a cache elsewhere). Refused ids are never scanned;
    the scan audits them (`rows-refused`, as for Resource Graph rows)."""

    caches: tuple[ResourceId, ...]
    refused: tuple[RefusedId, ...] = ()
    refused_count: int = 0


def listed_ids(ids: Iterable[str], scope: Scope | None = None) -> Listed:
    """The cache ids of a list answer, strictly; an id that does not parse or is outside `scope` is refused
    (kept for the audit record), never guessed."""
    caches: list[ResourceId] = []
    refused: list[RefusedId] = []
    count = 0
    for raw in ids:
        try:
            cache = parse_cache_id(raw)
        except InvalidResourceId as exc:
            why = f"id: {exc}"
        else:
            if scope is None or scope.contains(cache):
                caches.append(cache)
                continue
            why = f"outside the scope listed ({scope.arm_id})"
        count += 1
        log.warning("refused a listed resource id %s: %s", shown(raw, 200), why)
        if len(refused) < REFUSED_KEPT:
            refused.append(RefusedId(why, shown(raw, 300)))
    return Listed(tuple(caches), tuple(refused), count)


# Properties every Azure Cache for Redis body ARM answers carries (GET and list alike: the recording in
# tests/conformance/fixtures/redis_list.json). A listed body without one of them is not trusted to stand for
# the cache's GET (a rule would read the absence as the REST default): the cache is read with a GET instead.
LISTED_REDIS_PROPERTIES = ("provisioningState", "sku", "enableNonSslPort", "publicNetworkAccess")


def listed_body_usable(cache: ResourceId, body: Any) -> bool:
    """A list item that can be this cache's snapshot body: an object with this cache's id and a
    `properties` object holding `LISTED_REDIS_PROPERTIES`."""
    if cache.kind is not CacheKind.REDIS or not isinstance(body, Mapping):
        return False
    try:
        if parse_cache_id(str(body.get("id"))).key != cache.key:
            return False
    except InvalidResourceId:
        return False
    props = body.get("properties")
    return isinstance(props, Mapping) and all(props.get(p) is not None for p in LISTED_REDIS_PROPERTIES)


def public_access_disabled(props: Mapping[str, Any]) -> bool:
    """Only "Disabled" (compared case-insensitively, as ARM compares enum values) turns the public endpoint
    off; absent means Enabled (the REST default)."""
    value = props.get("publicNetworkAccess")
    return isinstance(value, str) and value.lower() == "disabled"


def cluster_databases(cache: ResourceId, bodies: Any) -> tuple[dict[str, Any], ...]:
    """Database GET bodies (each alone, or in list bodies' `value`) that belong to this cluster, each id
    `{cluster}/databases/{name}` with the name in ARM's grammar."""
    if cache.kind is not CacheKind.REDIS_ENTERPRISE:
        raise InvalidBody("databases: only an Azure Managed Redis cluster (Microsoft.Cache/redisEnterprise) has them")
    found: list[dict[str, Any]] = []
    for body in bodies if isinstance(bodies, list) else [bodies]:
        items = _items(body, "databases") if isinstance(body, Mapping) and "value" in body else [body]
        for item in items:
            if not isinstance(item, Mapping) or not isinstance(item.get("id"), str):
                raise InvalidBody("databases: each database must be a GET body with an 'id'")
            if not item["id"].lower().startswith(cache.arm_id.lower() + "/databases/"):
                raise InvalidBody(f"databases: {shown(item['id'], 160)} is not a database of {cache.arm_id}")
            name = item["id"][len(cache.arm_id) + len("/databases/"):]
            if not valid_enterprise_name(name):
                raise InvalidBody(f"databases: database name {shown(name)} is outside ARM's grammar "
                                  f"({ENTERPRISE_NAME_PATTERN})")
            if not isinstance(item.get("properties", {}), Mapping):
                raise InvalidBody("databases: 'properties' must be an object")
            found.append(dict(item))
    return tuple(found)


def network_security_group(body: Any) -> dict[str, Any]:
    """An NSG GET body; `{}` stands for "the subnet has no NSG"."""
    if not isinstance(body, Mapping):
        raise InvalidBody("nsg: expected the JSON object of a network security group GET")
    if body and not isinstance(body.get("properties"), Mapping):
        raise InvalidBody("nsg: 'properties' must be an object")
    return dict(body)
