"""The only way the rest of redis-warden talks to ARM: read a cache's snapshot, apply one plan step, list a
scope, and say who we are. A thin facade: it dispatches by resource kind to one module per service and
declares every ARM action those modules perform (`ACTIONS`, the least-privilege role in infra/main.bicep).

    pipeline  the shared session: SDK clients, policies (retry, correlation id, pacing), error mapping, raw JSON
    pacing    the process-wide budget per subscription and principal that paces every request
    polling   bounded long-running operations
    redis     Azure Cache for Redis (Microsoft.Cache/redis)
    enterprise  Azure Managed Redis (Microsoft.Cache/redisEnterprise)
    monitor   diagnostic settings, metric alerts, scheduled query rules (Microsoft.Insights), for either kind
    policy    Azure Policy compliance states of a cache (Microsoft.PolicyInsights)
    network   private DNS zone groups of private endpoints; subnet and NSG of an injected cache (Microsoft.Network)
    graph     Azure Resource Graph: the caches of several subscriptions or a management group in one query

A third resource kind is one more module with `KIND`, `ACTIONS`, `read`, `list` and `apply`, registered in
`Gateway.__init__`; the engine never needs to know which module served it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import ClassVar, Protocol

from azure.core.credentials import TokenCredential

from ..models import Actor, CacheSnapshot, Step
from ..resource_ids import CacheKind, FleetScope, ResourceId, Scope
from . import enterprise, graph, monitor, network, policy, polling, redis
from .bodies import Listed
from .errors import ArmError
from .pacing import Budgets
from .pipeline import ApplyResult, ArmSession
from .shared import SharedReads

__all__ = ["ApplyResult", "ArmError", "Gateway"]

SNAPSHOT_INPUTS = frozenset({"firewall_rules", "diagnostic_settings", "diagnostic_categories", "linked_servers",
                             "metric_alerts", "private_dns_zone_groups", "network_security_group",
                             "log_alert_rules", "policy_states"})


@dataclass(frozen=True)
class ScopeListing:
    """What listing a subscription or resource group gave: caches, failed kinds, refused ids by kind."""

    caches: tuple[ResourceId, ...]
    failed: Mapping[str, ArmError]
    refused: Mapping[str, Listed]


class Service(Protocol):
    """One resource kind's ARM module."""

    def read(self, cache: ResourceId, needs: frozenset[str], scan_id: str | None) -> CacheSnapshot: ...

    def list_caches(self, scope: Scope) -> Listed: ...

    def apply(self, cache: ResourceId, step: Step) -> ApplyResult: ...


class Gateway:
    """Reads and writes one cache at a time through the Azure SDK; every failure is an `ArmError`."""

    ACTIONS: ClassVar[frozenset[str]] = (
        redis.ACTIONS | enterprise.ACTIONS | monitor.ACTIONS | network.ACTIONS | policy.ACTIONS | polling.ACTIONS
        | graph.ACTIONS
    )

    def __init__(self, arm_endpoint: str, credential: TokenCredential, *, budgets: Budgets | None = None,
                 **options: float) -> None:
        """`options` are `ArmSession`'s: timeout, lro_wait_seconds, polling_interval, retry_total,
        max_retry_after, rate_scale; `budgets` (arm.pacing) defaults to the process-wide one."""
        self.session = ArmSession(arm_endpoint, credential, budgets=budgets, **options)  # type: ignore[arg-type]
        self.shared = SharedReads()  # reads the same for many caches, made once (arm.shared)
        self.monitor = monitor.Monitor(self.session, self.shared)
        self.network = network.Network(self.session)
        self.policy = policy.PolicyStates(self.session)
        self.graph = graph.ResourceGraph(self.session, shared=self.shared)
        self.services: dict[CacheKind, Service] = {
            redis.RedisCaches.KIND: redis.RedisCaches(self.session, self.monitor, self.network),
            enterprise.EnterpriseClusters.KIND: enterprise.EnterpriseClusters(self.session, self.monitor,
                                                                              self.network),
        }

    def _service(self, cache: ResourceId) -> Service:
        service = self.services.get(cache.kind)
        if service is None:
            raise ArmError(
                "invalid", f"{cache.kind} is not handled by this gateway yet", code="UnsupportedResourceType"
            )
        return service

    def read(self, cache: ResourceId, needs: frozenset[str] = frozenset({"firewall_rules"}), *,
             scan_id: str | None = None) -> CacheSnapshot:
        """One GET of the cache plus only the inputs in `needs` (`SNAPSHOT_INPUTS`); inputs not read stay None
        (a rule that needs them reports `unknown`). Private DNS zone groups are read only for Approved
        connections of a cache whose public access is not already Disabled (nothing else uses them).
        With a `scan_id`, lists of a whole resource group or subscription are shared by the scan's caches."""
        snapshot = self._service(cache).read(cache, needs, scan_id)
        if "log_alert_rules" in needs:  # kind-independent: the subscription's log alert rules
            snapshot = replace(snapshot, log_alert_rules=self.monitor.log_alert_rules(cache.subscription_id,
                                                                                      scan_id))
        if "policy_states" in needs:  # kind-independent: Azure Policy's verdicts on the cache
            snapshot = replace(snapshot, policy_states=self.policy.states(cache))
        return snapshot

    def list_caches(self, scope: Scope) -> list[ResourceId]:
        """Every cache of every kind in a subscription or resource group, following nextLink; the first
        listing that fails raises."""
        listing = self.list_caches_by_kind(scope)
        if listing.failed:
            raise next(iter(listing.failed.values()))
        return list(listing.caches)

    def list_caches_by_kind(self, scope: Scope) -> ScopeListing:
        """Each resource kind listed on its own: the caches of the kinds that listed, ARM's error for each
        kind whose listing failed (a scan reconciles what it could list and reports the rest), and the ids
        each answer held that were refused (outside ARM's grammar or the scope)."""
        if scope.cache is not None:
            return ScopeListing((scope.cache,), {}, {})
        found: list[ResourceId] = []
        failed: dict[str, ArmError] = {}
        refused: dict[str, Listed] = {}
        for kind, service in self.services.items():
            try:
                listed = service.list_caches(scope)
            except ArmError as exc:
                failed[str(kind)] = exc
                continue
            found += listed.caches
            if listed.refused_count:
                refused[str(kind)] = listed
        return ScopeListing(tuple(found), failed, refused)

    def list_fleet(self, scope: FleetScope, allowed: frozenset[str]) -> graph.GraphListing:
        """The caches of several subscriptions or a management group, through Azure Resource Graph; rows
        outside `allowed` (lower-case subscription ids) or ARM's grammar come back refused, never listed."""
        return self.graph.list_caches(scope, allowed)

    def offer_fleet_log_alert_rules(self, scope: FleetScope, allowed: frozenset[str],
                                    scan_id: str) -> graph.LogAlertListing:
        """Every subscription's scheduled query rules in one Resource Graph query, kept for the scan as each
        subscription's ARM list would be (`Monitor.log_alert_rules`), so the scan lists none of them with ARM."""
        listing = self.graph.list_log_alert_rules(scope, allowed)
        for sub, rules in listing.by_subscription.items():
            self.shared.offer_per_scan(scan_id, ("log_alert_rules", sub), rules)
        return listing

    def apply(self, cache: ResourceId, step: Step) -> ApplyResult:
        return self._service(cache).apply(cache, step)

    def operation_status(self, cache: ResourceId, status_url: object) -> polling.OperationStatus:
        """What ARM's status URL of a pending write on `cache` says now (`polling.operation_status`)."""
        return polling.operation_status(self.session, cache, status_url)

    def own_identity(self) -> Actor:
        """Who the warden is to ARM (from its own access token), so our own writes are recognised in events."""
        return self.session.own_identity()
