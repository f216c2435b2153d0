"""Azure Managed Redis (`Microsoft.Cache/redisEnterprise`, api 2025-07-01) for the gateway: read a cluster
with its databases into a snapshot, PATCH a cluster or a database, put a diagnostic setting on
`databases/default`, list clusters.

`Gateway` dispatches here for `CacheKind.REDIS_ENTERPRISE`. The SDK plumbing (retry and correlation
policies, bounded LRO polling, raw-JSON reads, error mapping) is the shared `ArmSession`, and diagnostic
settings and private DNS zone groups go through the same `Monitor` and `Network` as Azure Cache for Redis,
so both products behave the same towards ARM.
Write bodies are raw JSON holding only what the step changes: the SDK's `ClusterUpdate` / `DatabaseUpdate`
models would serialise whatever the caller set, and a dict keeps every write body reviewable. PATCHes are
long-running with `Azure-AsyncOperation` (final-state-via azure-async-operation in the spec; recorded updates
answer 200 with the resource `Updating` and a status URL that says `Pending`/`InProgress`, then `Succeeded`:
tests/conformance/fixtures/amr_*_update_lro.json); our bounded poller follows the operation and then GETs the
resource, so the result is the resource, not the status.

Snapshot mapping: `resource` is the cluster GET body; `databases` the database bodies (camelCase, absent
fields absent); `diagnostic_settings`/`diagnostic_categories` those of the `default` database, where Azure
Monitor keeps a cluster's logs; `linked_servers` the geo-replication partners (linked databases of other
clusters) with their cluster's location; `access_policy_assignments` the Entra data-access assignments on
every database.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from ..models import CacheSnapshot, ManualAction, PatchCache, PatchDatabase, PutDiagnosticSetting, Step
from ..resource_ids import (
    ENTERPRISE_NAME_PATTERN,
    CacheKind,
    InvalidResourceId,
    ResourceId,
    Scope,
    cache_of,
    enterprise_database_id,
    shown,
    valid_enterprise_name,
)
from . import polling
from .bodies import Listed, listed_ids, private_endpoint_connections
from .errors import ArmError
from .monitor import Monitor
from .network import Network
from .pipeline import ApplyResult, ArmSession, ResponseInfo, documented_resource, raw_json

if TYPE_CHECKING:
    from azure.mgmt.redisenterprise import RedisEnterpriseManagementClient

log = logging.getLogger(__name__)

DATABASE_TYPE = "Microsoft.Cache/redisEnterprise/databases"
DIAGNOSTICS_DATABASE = "default"  # Azure Managed Redis has one database, and its logs are configured there

ACTIONS = frozenset({
    "Microsoft.Cache/redisEnterprise/read",
    "Microsoft.Cache/redisEnterprise/write",
    "Microsoft.Cache/redisEnterprise/databases/read",
    "Microsoft.Cache/redisEnterprise/databases/write",
    "Microsoft.Cache/redisEnterprise/databases/accessPolicyAssignments/read",
})


class EnterpriseClusters:
    """Azure Managed Redis through `RedisEnterpriseManagementClient`; every failure is an `ArmError`."""

    KIND = CacheKind.REDIS_ENTERPRISE

    def __init__(self, session: ArmSession, monitor: Monitor, network: Network) -> None:
        self.session = session
        self.monitor = monitor
        self.network = network

    def _client(self, subscription_id: str) -> RedisEnterpriseManagementClient:
        # Imported on first use: a fleet of Azure Cache for Redis only never loads it (cold start, issue 13).
        from azure.mgmt.redisenterprise import RedisEnterpriseManagementClient

        return self.session.client(RedisEnterpriseManagementClient, subscription_id)

    # ------------------------------------------------------------------------------------------ reads

    def read(self, cache: ResourceId, needs: frozenset[str], scan_id: str | None = None) -> CacheSnapshot:
        s, client = self.session, self._client(cache.subscription_id)
        rg, name = cache.resource_group, cache.name
        resource = s.call(lambda: client.redis_enterprise.get(rg, name, cls=raw_json, **s.timeouts))
        if not isinstance(resource, dict):
            raise ArmError("transient", "ARM returned an empty body for the cluster", code="EmptyBody")
        dbs = self._databases(cache)
        props = documented_resource(resource).get("properties") or {}
        connections = self.network.with_dns_when_needed(
            private_endpoint_connections(resource), props.get("publicNetworkAccess"), needs)
        settings = categories = None
        has_default = any(_name(d).lower() == DIAGNOSTICS_DATABASE for d in dbs)
        if has_default and ("diagnostic_settings" in needs or "diagnostic_categories" in needs):
            settings, categories = self.monitor.read_diagnostics(
                database_id(cache, DIAGNOSTICS_DATABASE), cache.subscription_id, needs, DATABASE_TYPE)
        return CacheSnapshot(
            cache_id=cache,
            resource=resource,
            private_endpoint_connections=connections,
            diagnostic_settings=settings,
            diagnostic_categories=categories,
            linked_servers=self._partners(cache, dbs) if "linked_servers" in needs else None,
            databases=dbs,
            access_policy_assignments=(
                self._assignments(cache, dbs) if "access_policy_assignments" in needs else None
            ),
            read_at=datetime.now(UTC),
        )

    def _databases(self, cache: ResourceId) -> tuple[dict[str, Any], ...]:
        s, client = self.session, self._client(cache.subscription_id)
        items = s.list_sdk(lambda: client.databases.list_by_cluster(cache.resource_group, cache.name,
                                                                     **s.timeouts), f"databases of {cache.arm_id}")
        # serialize(keep_readonly=True) gives the REST shape back, omitting what ARM did not send.
        return tuple(checked_database(cache, i.serialize(keep_readonly=True)) for i in items)

    def _assignments(self, cache: ResourceId, dbs: tuple[dict[str, Any], ...]) -> tuple[dict[str, Any], ...]:
        s, client = self.session, self._client(cache.subscription_id)
        out: list[dict[str, Any]] = []
        for db in dbs:
            db_name = _name(db)
            items = s.list_sdk(lambda n=db_name: client.access_policy_assignment.list(
                cache.resource_group, cache.name, n, **s.timeouts), f"access policy assignments of {cache.arm_id}")
            out.extend(i.serialize(keep_readonly=True) for i in items)
        return tuple(out)

    def _partners(self, cache: ResourceId, dbs: tuple[dict[str, Any], ...]) -> tuple[dict[str, Any], ...]:
        """Linked databases on other clusters, each with its cluster's location (None when that cluster
        cannot be read: the residency rule then reports `unknown`, never compliant)."""
        s = self.session
        own = cache.key + "/databases/"
        out: list[dict[str, Any]] = []
        for db in dbs:
            geo = (db.get("properties") or {}).get("geoReplication") or {}
            for link in geo.get("linkedDatabases") or ():
                link_id = str(link.get("id") or "")
                if not link_id or link_id.lower().startswith(own):
                    continue
                try:
                    partner = cache_of(link_id)
                except InvalidResourceId:
                    out.append({"id": link_id, "name": link_id, "location": None})
                    continue
                location = None
                try:
                    client = self._client(partner.subscription_id)
                    body = s.call(lambda p=partner, c=client: c.redis_enterprise.get(
                        p.resource_group, p.name, cls=raw_json, **s.timeouts))
                    location = (body or {}).get("location")
                except ArmError as exc:
                    if exc.kind not in ("gone", "blocked", "invalid"):
                        raise
                    log.warning("geo-replication partner %s not readable: %s", link_id, exc)
                out.append({"id": link_id, "name": partner.name, "location": location})
        return tuple(out)

    def list_caches(self, scope: Scope) -> Listed:
        """Every Microsoft.Cache/redisEnterprise cluster in a subscription or resource group."""
        s, client = self.session, self._client(scope.subscription_id)
        rg = scope.resource_group
        if rg is None:
            items = s.list_sdk(lambda: client.redis_enterprise.list(**s.timeouts), f"clusters in {scope.arm_id}")
        else:
            items = s.list_sdk(lambda: client.redis_enterprise.list_by_resource_group(rg, **s.timeouts),
                               f"clusters in {scope.arm_id}")
        return listed_ids((str(item.id) for item in items), scope)

    # ------------------------------------------------------------------------------------------ writes

    def apply(self, cache: ResourceId, step: Step) -> ApplyResult:
        if isinstance(step, PatchDatabase):
            return self._patch(cache, step, step.database)
        if isinstance(step, PatchCache):
            return self._patch(cache, step, None)
        if isinstance(step, PutDiagnosticSetting):
            return self.monitor.put_diagnostic_setting(
                database_id(cache, DIAGNOSTICS_DATABASE), cache.subscription_id, step)
        if isinstance(step, ManualAction):
            raise ArmError("invalid", f"a manual action cannot be applied: {step.reason}", code="ManualAction")
        raise ArmError("invalid", f"{type(step).__name__} does not apply to Azure Managed Redis",
                       code="UnsupportedStep")

    def _patch(self, cache: ResourceId, step: PatchCache, database: str | None) -> ApplyResult:
        if database is not None:
            database_id(cache, database)  # a name outside ARM's grammar is refused here, never sent
        client = self._client(cache.subscription_id)
        body = json.dumps(dict(step.body)).encode("utf-8")
        info = ResponseInfo()
        kwargs = polling.begin_kwargs(self.session, info)
        rg, name = cache.resource_group, cache.name
        if database is None:
            poller = self.session.call(lambda: client.redis_enterprise.begin_update(rg, name, body, **kwargs))
        else:
            poller = self.session.call(lambda: client.databases.begin_update(rg, name, database, body, **kwargs))
        return polling.finish(self.session, poller, info)


def database_id(cache: ResourceId, database: str) -> str:
    """The database's ARM id, for a name in ARM's grammar only (an `ArmError` `InvalidResourceName`
    otherwise: nothing is sent)."""
    try:
        return enterprise_database_id(cache, database)
    except InvalidResourceId as exc:
        raise ArmError("invalid", f"{exc}; not sent", code="InvalidResourceName") from None


def checked_database(cache: ResourceId, db: dict[str, Any]) -> dict[str, Any]:
    """A database from ARM's list answer, only if ARM could have said it: named `{name}` or
    `{this cluster}/{name}` with `name` in ARM's grammar (`ENTERPRISE_NAME_PATTERN`), and with the id
    `{this cluster}/databases/{name}`. Anything else is a crafted answer: the read stops with `blocked`
    `InvalidResourceName` (the engine audits it) before the name reaches a URL (access policy assignments,
    diagnostic settings, a database PATCH). Returns the body with the database's own name."""
    raw_id, raw_name = db.get("id"), db.get("name")
    if raw_name is None and isinstance(raw_id, str):
        raw_name = raw_id.rsplit("/", 1)[-1]
    name = raw_name
    if isinstance(raw_name, str) and "/" in raw_name:
        parent, _, name = raw_name.partition("/")
        if parent.lower() != cache.name.lower():
            name = raw_name
    if not isinstance(name, str) or not valid_enterprise_name(name):
        raise ArmError("blocked", f"ARM's answer names a database of {cache.arm_id} {shown(raw_name)}, outside "
                                  f"ARM's grammar for database names ({ENTERPRISE_NAME_PATTERN}); the cluster was "
                                  "not read further and nothing was sent", code="InvalidResourceName")
    if not isinstance(raw_id, str) or raw_id.lower() != enterprise_database_id(cache, name).lower():
        raise ArmError("blocked", f"ARM's answer gives database {name} of {cache.arm_id} the id "
                                  f"{shown(raw_id, 160)}, which is not that database's; the cluster was not read "
                                  "further and nothing was sent", code="InvalidResourceName")
    return {**db, "name": name}


def _name(db: Mapping[str, Any]) -> str:
    return str(db.get("name") or str(db.get("id") or "").rsplit("/", 1)[-1]).rsplit("/", 1)[-1]
