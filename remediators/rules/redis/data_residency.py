"""data-residency: the cache and every geo-replication partner sit in an allowed region.

Locations are compared after normalising the spellings ARM uses: display names ("UK South"), names
("uksouth") and anything in between ("UKSouth", "uk-south") are the same region.

Partners: the cache GET body lists `properties.linkedServers` as ids only, without locations, so the
locations come from the linked-servers list API (`snapshot.linked_servers`, each item's
`properties.linkedRedisCacheLocation`). Decisions when that list was not read:
- the cache itself is outside the allowed regions: non-compliant (partners cannot make it compliant);
- the body says there are no linked servers (`linkedServers: []`): nothing to check beyond the cache;
- the body lists linked servers, or does not say (field absent): `unknown`, never compliant.
Azure Managed Redis is checked the same way (the cluster's location; partners when the gateway provides
them), since residency does not depend on the product. A cluster's geo-replication partners are the
databases its databases link (`geoReplication.linkedDatabases`); the gateway reads each partner cluster's
location into `linked_servers`. Without that list a cluster is compliant only when its databases link none.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from ...models import CacheSnapshot, Effect, ManualFix, Severity, Status
from ...resource_ids import CacheKind
from ..base import RuleContext, RuleMetadata, Verdict
from ..frameworks import RESIDENCY

RULE_ID = "data-residency"
DEFAULT_ALLOWED = ("uksouth", "ukwest")
_SEPARATORS = re.compile(r"[\s_\-]+")

METADATA = RuleMetadata(
    id=RULE_ID,
    frameworks=RESIDENCY,
    title="Cache and geo-replicas are in allowed regions",
    severity=Severity.HIGH,
    rationale=(
        "Cached data is personal data as often as the database behind it; UK GDPR and contracts can require "
        "it to stay in the UK, and a geo-replica copies every key to its region."
    ),
    resource_types=(CacheKind.REDIS, CacheKind.REDIS_ENTERPRISE),
    default_effect=Effect.AUDIT,
    remediation_kind="manual",
    remediation=(
        "Manual: a cache cannot be moved between regions. Create a replacement in an allowed region and "
        "migrate, or unlink the out-of-region geo-replica."
    ),
    what_could_break="Nothing automatically: the rule only reports.",
    pitfalls=(
        "ARM mixes display names ('UK South') and names ('uksouth'): normalise before comparing.",
        "The cache GET body lists linked servers without their locations; read the linkedServers list API.",
        "Geo-replication partners are caches in their own right and are also checked on their own.",
    ),
    needs=frozenset({"linked_servers"}),
)


def normalise_location(value: str) -> str:
    return _SEPARATORS.sub("", value).lower()


def body_linked_server_ids(snapshot: CacheSnapshot) -> tuple[str, ...] | None:
    """Linked server ids from the cache GET body; None when the body does not say."""
    raw = snapshot.properties.get("linkedServers")
    if not isinstance(raw, Sequence) or isinstance(raw, str):
        return None
    return tuple(str(i.get("id")) for i in raw if isinstance(i, Mapping))


def has_geo_replication(snapshot: CacheSnapshot) -> bool | None:
    """True/False when known from either source, None when neither was read."""
    if snapshot.linked_servers is not None:
        return bool(snapshot.linked_servers)
    ids = body_linked_server_ids(snapshot)
    return None if ids is None else bool(ids)


def _partner_location(item: Mapping[str, Any]) -> Any:
    props = item.get("properties")
    if isinstance(props, Mapping) and "linkedRedisCacheLocation" in props:
        return props.get("linkedRedisCacheLocation")
    return item.get("location")


def _allowed(ctx: RuleContext) -> tuple[str, ...]:
    raw = ctx.params.get("allowedLocations")
    if raw is None:
        return DEFAULT_ALLOWED
    return tuple(normalise_location(str(v)) for v in raw)


class DataResidencyRule:
    metadata = METADATA

    def evaluate(self, snapshot: CacheSnapshot, ctx: RuleContext) -> Verdict:
        allowed = _allowed(ctx)
        shown_allowed = ", ".join(allowed)
        location = snapshot.location
        if not isinstance(location, str) or not location.strip():
            return Verdict(Status.UNKNOWN, "the cache body has no location", before=location)
        if normalise_location(location) not in allowed:
            return Verdict(
                Status.NON_COMPLIANT,
                f"the cache is in {location!r}, outside the allowed regions ({shown_allowed})",
                before=location,
                remediation=ManualFix(
                    f"Recreate the cache in an allowed region ({shown_allowed}) and migrate its clients."
                ),
            )
        partners = snapshot.linked_servers
        if partners is None and snapshot.cache_id.kind is CacheKind.REDIS_ENTERPRISE:
            return _cluster_without_partner_list(snapshot, location)
        if partners is None:
            ids = body_linked_server_ids(snapshot)
            if ids == ():
                return Verdict(Status.COMPLIANT, f"the cache is in {location!r} and has no geo-replica")
            detail = "does not list linked servers" if ids is None else f"lists {len(ids)} linked server(s)"
            return Verdict(
                Status.UNKNOWN,
                f"the cache is in {location!r} but its body {detail} and their locations were not read",
                before=location,
            )
        outside, unreadable = [], []
        for item in partners:
            where = _partner_location(item) if isinstance(item, Mapping) else None
            name = str(item.get("name") or item.get("id")) if isinstance(item, Mapping) else repr(item)
            if not isinstance(where, str) or not where.strip():
                unreadable.append(name)
            elif normalise_location(where) not in allowed:
                outside.append(f"{name} in {where!r}")
        if outside:
            return Verdict(
                Status.NON_COMPLIANT,
                "geo-replication partner(s) outside the allowed regions: " + "; ".join(outside),
                before=[location, *outside],
                remediation=ManualFix(
                    "Unlink the out-of-region geo-replica(s) and replace them in an allowed region "
                    f"({shown_allowed}): " + "; ".join(outside)
                ),
            )
        if unreadable:
            return Verdict(
                Status.UNKNOWN,
                "linked server(s) without a location: " + ", ".join(unreadable),
                before=location,
            )
        return Verdict(
            Status.COMPLIANT,
            f"the cache is in {location!r} and its {len(partners)} geo-replica(s) are in allowed regions",
            before=location,
        )


def linked_database_ids(snapshot: CacheSnapshot) -> tuple[str, ...] | None:
    """Azure Managed Redis: ids of the databases the cluster's databases are geo-replicated with (their
    `geoReplication.linkedDatabases`, which list the database itself too); None when databases were not read."""
    if snapshot.databases is None:
        return None
    own = snapshot.cache_id.key + "/databases/"
    out: list[str] = []
    for db in snapshot.databases:
        geo = (db.get("properties") or {}).get("geoReplication") if isinstance(db, Mapping) else None
        links = geo.get("linkedDatabases") if isinstance(geo, Mapping) else None
        for link in links if isinstance(links, Sequence) else ():
            link_id = link.get("id") if isinstance(link, Mapping) else None
            if isinstance(link_id, str) and not link_id.lower().startswith(own) and link_id not in out:
                out.append(link_id)
    return tuple(out)


def _cluster_without_partner_list(snapshot: CacheSnapshot, location: str) -> Verdict:
    """A cluster in an allowed region whose partner locations were not read: compliant only when its
    databases say there is no geo-replication partner."""
    ids = linked_database_ids(snapshot)
    if ids == ():
        return Verdict(Status.COMPLIANT, f"the cluster is in {location!r} and has no geo-replica")
    detail = "databases were not read" if ids is None else f"databases link {len(ids)} geo-replica(s)"
    return Verdict(
        Status.UNKNOWN,
        f"the cluster is in {location!r} but its {detail} and their locations were not read",
        before=location,
    )


RULE = DataResidencyRule()
