"""Strict, case-insensitive parsing of ARM resource IDs for the caches redis-warden governs.

ARM treats IDs and types case-insensitively (`Microsoft.Cache/Redis`, `microsoft.cache/redis`), but an ID
that comes from an event or an HTTP request is untrusted input: anything that is not exactly a cache, one of
its child resources, or an extension resource on it, is refused with a reason. No normalisation that could
make two different resources look alike (percent-decoding, `..`, Unicode folding) is ever applied.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

# ASCII only: look-alike Unicode letters must not pass as a provider name or a cache name.
_GUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
_RG = re.compile(r"^[A-Za-z0-9_.()\-]{1,90}$")
_REDIS_NAME = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9\-]{0,61}[A-Za-z0-9])?$")
_CHILD_NAME = re.compile(r"^[A-Za-z0-9_.\-]{1,260}$")
# Microsoft.Management/managementGroups (learn.microsoft.com "Naming rules and restrictions for Azure
# resources"): 1-90 alphanumerics, hyphens, underscores, periods and parentheses, not ending in a period.
_MANAGEMENT_GROUP = re.compile(r"^[A-Za-z0-9_.()\-]{1,90}$")
MANAGEMENT_GROUP_PREFIX = "/providers/Microsoft.Management/managementGroups/"
MAX_ID_LENGTH = 2048

# Azure Managed Redis names, from ARM's own grammar: reference/arm-specs/redisenterprise/
# redisenterprise.json (Microsoft.Cache/RedisEnterprise stable 2025-07-01), path parameters
# `ClusterNameParameter` (clusterName) and `DatabaseNameParameter` (databaseName), both with the pattern
# `^(?=.{1,60}$)[A-Za-z0-9]+(-[A-Za-z0-9]+)*$`: 1-60 ASCII letters and digits, single inner hyphens. Written
# here with `\Z` and used with fullmatch, since Python's `$` would also accept a trailing newline.
ENTERPRISE_NAME_PATTERN = "^(?=.{1,60}$)[A-Za-z0-9]+(-[A-Za-z0-9]+)*$"  # as the spec spells it
_ENTERPRISE_NAME = re.compile(r"(?=.{1,60}\Z)[A-Za-z0-9]+(?:-[A-Za-z0-9]+)*\Z")


class InvalidResourceId(ValueError):
    """The string is not an ARM ID of a cache we govern; the message says why. `general` says it without
    quoting any part of the id: what an audit record about an untrusted message may keep (a forged subject
    can carry a person's UPN where a name belongs; UK GDPR minimisation)."""

    def __init__(self, message: str, *, general: str | None = None) -> None:
        super().__init__(message)
        self.general = general or message


def shown(name: object, limit: int = 64) -> str:
    """A crafted name as an error message may quote it: ASCII-escaped (a look-alike letter shows as `\\u043e`)
    and cut at `limit` characters, so an over-long name cannot flood a log or an audit record."""
    text = name if isinstance(name, str) else repr(name)
    return ascii(text[:limit]) + ("..." if len(text) > limit else "")


class CacheKind(StrEnum):
    REDIS = "Microsoft.Cache/redis"
    REDIS_ENTERPRISE = "Microsoft.Cache/redisEnterprise"

    @property
    def arm_type_segment(self) -> str:
        """The type segment as ARM itself spells it in resource IDs."""
        return "Redis" if self is CacheKind.REDIS else "redisEnterprise"


_KINDS = {"redis": CacheKind.REDIS, "redisenterprise": CacheKind.REDIS_ENTERPRISE}

# Child resource types that belong to their cache (a write to one re-evaluates the cache).
CHILD_TYPES = {
    CacheKind.REDIS: {
        "firewallrules",
        "privateendpointconnections",
        "linkedservers",
        "patchschedules",
        "accesspolicies",
        "accesspolicyassignments",
    },
    CacheKind.REDIS_ENTERPRISE: {"databases", "privateendpointconnections"},
}
# Extension resources (`.../providers/<ns>/<type>/<name>` on top of the cache or a database).
EXTENSION_TYPES = {
    ("microsoft.insights", "diagnosticsettings"),
    ("microsoft.authorization", "locks"),
    ("microsoft.authorization", "roleassignments"),
}


@dataclass(frozen=True)
class ResourceId:
    """A cache: subscription, resource group, kind and name. Equality and hashing are case-insensitive."""

    subscription_id: str
    resource_group: str
    kind: CacheKind
    name: str

    @property
    def arm_id(self) -> str:
        return (
            f"/subscriptions/{self.subscription_id}/resourceGroups/{self.resource_group}"
            f"/providers/Microsoft.Cache/{self.kind.arm_type_segment}/{self.name}"
        )

    @property
    def key(self) -> str:
        """Case-folded ID, used for leases, dedup and comparisons."""
        return self.arm_id.lower()

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ResourceId) and self.key == other.key

    def __hash__(self) -> int:
        return hash(self.key)

    def __str__(self) -> str:
        return self.arm_id


@dataclass(frozen=True)
class Scope:
    """A subscription, a resource group in it, or a single cache: what a scan or a baseline scope covers."""

    subscription_id: str
    resource_group: str | None = None
    cache: ResourceId | None = None

    @property
    def arm_id(self) -> str:
        if self.cache is not None:
            return self.cache.arm_id
        if self.resource_group is not None:
            return f"/subscriptions/{self.subscription_id}/resourceGroups/{self.resource_group}"
        return f"/subscriptions/{self.subscription_id}"

    def contains(self, cache: ResourceId) -> bool:
        if cache.subscription_id.lower() != self.subscription_id.lower():
            return False
        if self.cache is not None:
            return self.cache == cache
        if self.resource_group is not None:
            return cache.resource_group.lower() == self.resource_group.lower()
        return True

    @property
    def depth(self) -> int:
        """0 subscription, 1 resource group, 2 cache: a more specific scope wins."""
        return 2 if self.cache is not None else 1 if self.resource_group is not None else 0


@dataclass(frozen=True)
class ManagementGroup:
    """A management group, by its name (its id's last segment; the tenant root group's name is the tenant
    id). Equality is case-insensitive, as ARM's."""

    name: str

    @property
    def arm_id(self) -> str:
        return f"{MANAGEMENT_GROUP_PREFIX}{self.name}"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ManagementGroup) and self.name.lower() == other.name.lower()

    def __hash__(self) -> int:
        return hash(self.name.lower())


@dataclass(frozen=True)
class FleetScope:
    """What one Azure Resource Graph query covers: several subscriptions, or one management group (then
    only the caches of subscriptions the warden is allowed to act in are taken from it)."""

    subscriptions: tuple[str, ...] = ()
    management_group: ManagementGroup | None = None

    def __post_init__(self) -> None:
        if (self.management_group is None) == (not self.subscriptions):
            raise ValueError("a fleet scope is either subscriptions or one management group")

    @property
    def arm_id(self) -> str:
        """The scope as recorded in the trail and the scan row: the group's id, or the subscriptions' ids."""
        if self.management_group is not None:
            return self.management_group.arm_id
        return ",".join(f"/subscriptions/{s}" for s in self.subscriptions)


def parse_subscription_id(raw: object) -> str:
    """A subscription id (a GUID), lower-cased; the message says what is wrong."""
    if not isinstance(raw, str) or not _GUID.match(raw.strip()):
        shown = raw if isinstance(raw, str) and raw.isascii() and raw.isprintable() and len(raw) <= 80 else "..."
        raise InvalidResourceId(f"subscription id {shown!r} is not a GUID "
                                "(e.g. 6f1c7e3a-2b4d-4c1e-9f3a-0d2b8e5a7c11)")
    return raw.strip().lower()


def parse_management_group(raw: object) -> ManagementGroup:
    """A management group's name, or its id `/providers/Microsoft.Management/managementGroups/{name}`."""
    if not isinstance(raw, str):
        raise InvalidResourceId("management group must be a string")
    name = raw
    if raw.startswith("/"):
        parts = id_segments(raw)
        if len(parts) != 4 or parts[0].lower() != "providers" or parts[1].lower() != "microsoft.management" \
                or parts[2].lower() != "managementgroups":
            raise InvalidResourceId("management group id must be /providers/Microsoft.Management/managementGroups/"
                                    "{name}")
        name = parts[3]
    if not name.isascii() or not _MANAGEMENT_GROUP.match(name) or name.endswith("."):
        shown = name if name.isascii() and name.isprintable() and len(name) <= 100 else "..."
        raise InvalidResourceId(f"management group name {shown!r} is invalid: 1-90 letters, digits, '-', '_', "
                                "'.', '(' or ')', not ending in '.'")
    return ManagementGroup(name)


def id_segments(raw: object) -> list[str]:
    """The path segments of a resource id after the strict checks every parser here shares (ASCII, no encoded
    or reserved characters, no empty, "." or ".." segment); raises InvalidResourceId. Settings use it for ids of other
    types than a cache."""
    if not isinstance(raw, str):
        raise InvalidResourceId("resource id must be a string")
    if len(raw) > MAX_ID_LENGTH:
        raise InvalidResourceId(f"resource id longer than {MAX_ID_LENGTH} characters")
    if not raw.isascii() or not raw.isprintable():
        raise InvalidResourceId("resource id contains non-ASCII or control characters")
    if "%" in raw or "\\" in raw or "?" in raw or "#" in raw:
        raise InvalidResourceId("resource id contains encoded or reserved characters")
    if not raw.startswith("/"):
        raise InvalidResourceId("resource id must start with '/subscriptions/'")
    body = raw[1:-1] if raw.endswith("/") else raw[1:]  # one trailing slash is harmless; more is not
    parts = body.split("/")
    if any(p in ("", ".", "..") for p in parts):
        raise InvalidResourceId("resource id has an empty, '.' or '..' segment")
    return parts


def _subscription(parts: list[str]) -> str:
    if len(parts) < 2 or parts[0].lower() != "subscriptions":
        raise InvalidResourceId("resource id must start with '/subscriptions/{id}'")
    if not _GUID.match(parts[1]):
        raise InvalidResourceId("subscription id is not a GUID")
    return parts[1].lower()


def _cache_at(parts: list[str]) -> ResourceId:
    """parts[0:8] must be subscriptions/S/resourceGroups/RG/providers/Microsoft.Cache/<type>/<name>."""
    sub = _subscription(parts)
    if len(parts) < 8:
        raise InvalidResourceId("resource id is not a cache: too few segments")
    if parts[2].lower() != "resourcegroups" or not _RG.match(parts[3]) or parts[3].endswith("."):
        raise InvalidResourceId("resource group segment is missing or invalid")
    if parts[4].lower() != "providers":
        raise InvalidResourceId("expected '/providers/' after the resource group")
    if parts[5].lower() != "microsoft.cache":
        raise InvalidResourceId(f"provider {shown(parts[5])} is not Microsoft.Cache",
                                general="provider is not Microsoft.Cache")
    kind = _KINDS.get(parts[6].lower())
    if kind is None:
        raise InvalidResourceId(f"Microsoft.Cache/{shown(parts[6])} is not a cache type redis-warden governs",
                                general="not a Microsoft.Cache type redis-warden governs")
    name = parts[7]
    if kind is CacheKind.REDIS_ENTERPRISE:
        if not valid_enterprise_name(name):
            raise InvalidResourceId(f"cluster name {shown(name)} is outside ARM's grammar for Azure Managed Redis "
                                    f"cluster names ({ENTERPRISE_NAME_PATTERN})",
                                    general=f"cluster name outside ARM's grammar ({ENTERPRISE_NAME_PATTERN})")
    elif not _REDIS_NAME.match(name):
        raise InvalidResourceId(f"cache name {shown(name)} is invalid", general="cache name is invalid")
    return ResourceId(sub, parts[3], kind, name)


def parse_cache_id(raw: object) -> ResourceId:
    """Parse an ID that must name a cache itself (no child resource)."""
    parts = id_segments(raw)
    cache = _cache_at(parts)
    if len(parts) != 8:
        raise InvalidResourceId("resource id names a child resource, not a cache")
    return cache


def cache_of(raw: object) -> ResourceId:
    """The cache that a resource ID belongs to: the cache itself, a known child resource
    (`firewallRules/x`, `databases/default`, ...) or a known extension resource on either
    (`providers/Microsoft.Insights/diagnosticSettings/x`). Anything else is refused."""
    parts = id_segments(raw)
    cache = _cache_at(parts)
    rest = parts[8:]
    if rest and rest[0].lower() != "providers":
        if len(rest) < 2 or rest[0].lower() not in CHILD_TYPES[cache.kind]:
            raise InvalidResourceId(f"{shown(rest[0])} is not a child resource type of {cache.kind}",
                                    general=f"not a child resource type of {cache.kind}")
        if not _CHILD_NAME.match(rest[1]):
            raise InvalidResourceId("child resource name is invalid")
        if rest[0].lower() == "databases" and not valid_enterprise_name(rest[1]):
            raise InvalidResourceId(f"database name {shown(rest[1])} is outside ARM's grammar for Azure Managed Redis "
                                    f"database names ({ENTERPRISE_NAME_PATTERN})",
                                    general=f"database name outside ARM's grammar ({ENTERPRISE_NAME_PATTERN})")
        rest = rest[2:]
    if rest:
        if len(rest) != 4 or rest[0].lower() != "providers":
            raise InvalidResourceId("unexpected segments after the cache")
        if (rest[1].lower(), rest[2].lower()) not in EXTENSION_TYPES:
            raise InvalidResourceId(f"extension {shown(rest[1])}/{shown(rest[2])} is not one redis-warden follows",
                                    general="extension resource is not one redis-warden follows")
        if not _CHILD_NAME.match(rest[3]):
            raise InvalidResourceId("extension resource name is invalid")
    return cache


# ARM's grammar for names that come back in ARM answers and go into our URLs (design section 6).
FIREWALL_RULE_NAME = re.compile(r"^\w+$", re.ASCII)  # Microsoft.Cache/redis/firewallRules: letters, digits, _
_NETWORK_NAME = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9._-]{0,78}[A-Za-z0-9_])?$")


def valid_firewall_rule_name(name: object) -> bool:
    r"""Whether ARM could have answered with this firewall rule name (`^\w+$`): anything else (`..`, `a/b`)
    would be normalised by the HTTP stack into a different URL if it were sent."""
    return isinstance(name, str) and len(name) <= 128 and bool(FIREWALL_RULE_NAME.match(name))


def valid_enterprise_name(name: object) -> bool:
    """Whether ARM could have answered with this Azure Managed Redis cluster or database name
    (`ENTERPRISE_NAME_PATTERN`, from the 2025-07-01 spec). A name outside it (`default/../x`, `%2e%2e`, `a?b`,
    61 characters, a Cyrillic look-alike letter) would address some other URL if it were sent, so it never
    is: readers refuse the answer, the planner refuses the step and the gateway refuses the request."""
    return isinstance(name, str) and _ENTERPRISE_NAME.fullmatch(name) is not None


def enterprise_database_id(cluster: ResourceId, database: str) -> str:
    """`{cluster}/databases/{database}`, only for a database name in ARM's grammar (InvalidResourceId
    otherwise): the one place such an id is built for a URL."""
    if cluster.kind is not CacheKind.REDIS_ENTERPRISE:
        raise InvalidResourceId(f"{cluster.kind} has no databases")
    if not valid_enterprise_name(database):
        raise InvalidResourceId(f"database name {shown(database)} is outside ARM's grammar for Azure Managed "
                                f"Redis database names ({ENTERPRISE_NAME_PATTERN})")
    return f"{cluster.arm_id}/databases/{database}"


def parse_private_endpoint_id(raw: object) -> str:
    """A private endpoint's ARM id from a cache's connections, strictly, before it becomes a URL path:
    `/subscriptions/{guid}/resourceGroups/{rg}/providers/Microsoft.Network/privateEndpoints/{name}`.
    An id that would change the host (`.attacker.example/...`) or climb out (`..`) is refused."""
    parts = id_segments(raw)
    sub = _subscription(parts)
    if len(parts) != 8:
        raise InvalidResourceId("private endpoint id must have exactly 8 segments")
    if parts[2].lower() != "resourcegroups" or not _RG.match(parts[3]) or parts[3].endswith("."):
        raise InvalidResourceId("resource group segment is missing or invalid")
    if parts[4].lower() != "providers" or parts[5].lower() != "microsoft.network":
        raise InvalidResourceId("private endpoint id is not under Microsoft.Network")
    if parts[6].lower() != "privateendpoints" or not _NETWORK_NAME.match(parts[7]):
        raise InvalidResourceId("private endpoint name is invalid")
    return f"/subscriptions/{sub}/resourceGroups/{parts[3]}/providers/Microsoft.Network/privateEndpoints/{parts[7]}"


def parse_scan_scope(raw: object) -> Scope | FleetScope:
    """What `POST /api/scans` and the nightly timer accept: a subscription, resource group or cache id, or a
    management group id (`/providers/Microsoft.Management/managementGroups/{name}`)."""
    if isinstance(raw, str) and raw.lower().startswith("/providers/"):
        return FleetScope(management_group=parse_management_group(raw))
    return parse_scope(raw)


def parse_scope(raw: object) -> Scope:
    """A subscription, resource group or cache ID (as accepted by `POST /api/scans`)."""
    parts = id_segments(raw)
    sub = _subscription(parts)
    if len(parts) == 2:
        return Scope(sub)
    if len(parts) == 4:
        if parts[2].lower() != "resourcegroups" or not _RG.match(parts[3]) or parts[3].endswith("."):
            raise InvalidResourceId("resource group segment is missing or invalid")
        return Scope(sub, parts[3])
    return Scope(sub, parts[3] if len(parts) > 3 else None, parse_cache_id(raw))
