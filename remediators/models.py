"""The shared vocabulary of redis-warden: frozen data passed between modules.

Everything here is plain data. Parsing of untrusted input (events, WorkItems, baselines) happens at the
edges (`events`, `workitem`, `baseline`) and produces these types; the engine, rules and planner only ever
see validated values. Keeping the types in one module lets rules, planner, gateway and audit agree on
shape without importing each other.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from .dataplane.sampling import SampleReport
from .resource_ids import ResourceId


class Status(StrEnum):
    """Finding status. `unknown` means an input was not read: it is never treated as compliant."""

    COMPLIANT = "compliant"
    NON_COMPLIANT = "non_compliant"
    NOT_APPLICABLE = "not_applicable"
    EXEMPT = "exempt"
    UNKNOWN = "unknown"

    @property
    def is_compliant(self) -> bool:
        return self in (Status.COMPLIANT, Status.NOT_APPLICABLE, Status.EXEMPT)


class Effect(StrEnum):
    """Per-rule effect, named as in Azure Policy."""

    REMEDIATE = "remediate"
    AUDIT = "audit"
    DISABLED = "disabled"


class Severity(StrEnum):
    CRITICAL = "critical"
    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"


@dataclass(frozen=True)
class Actor:
    """Who made an ARM write, from the event's `claims`. UPN and name are personal data (UK GDPR):
    they are carried here but only written to the audit trail when `WARDEN_RECORD_UPN=true`."""

    object_id: str | None = None
    app_id: str | None = None
    principal_type: str | None = None
    upn: str | None = None
    name: str | None = None
    managed_identity_id: str | None = None  # the `xms_mirid` claim, present for managed identities

    def minimal(self, record_upn: bool = False) -> dict[str, str]:
        """The actor as written to the audit trail: ids always, UPN/name only when allowed."""
        out = {
            k: v
            for k, v in (
                ("oid", self.object_id),
                ("appid", self.app_id),
                ("principal_type", self.principal_type),
            )
            if v
        }
        if record_upn:
            out.update({k: v for k, v in (("upn", self.upn), ("name", self.name)) if v})
        return out


@dataclass(frozen=True)
class CacheChange:
    """One resource-change event that concerns a cache (or one of its child/extension resources)."""

    event_id: str
    event_type: str  # e.g. "Microsoft.Resources.ResourceWriteSuccess"
    event_time: datetime
    subject: str  # the changed resource, as sent (may be a child of the cache)
    cache: ResourceId  # the cache the subject belongs to
    operation_name: str | None
    correlation_id: str | None
    actor: Actor
    schema: str  # "eventgrid" | "cloudevents"

    @property
    def is_delete(self) -> bool:
        return self.event_type.lower().endswith("resourcedeletesuccess")

    @property
    def touches_cache_itself(self) -> bool:
        """True when the subject is the cache resource (not a child or extension resource)."""
        return self.subject.rstrip("/").lower() == self.cache.arm_id.lower()


@dataclass(frozen=True)
class IgnoredEvent:
    """An event we deliberately do nothing about; still audited (`ignored-event`)."""

    event_id: str | None
    reason: str
    subject: str | None = None
    event_type: str | None = None
    actor: Actor | None = None


# ---------------------------------------------------------------------------------------------- snapshot


@dataclass(frozen=True)
class FirewallRule:
    name: str
    start_ip: str
    end_ip: str


@dataclass(frozen=True)
class PrivateEndpointConnection:
    name: str
    status: str | None  # privateLinkServiceConnectionState.status: Approved/Pending/Rejected/Disconnected
    private_endpoint_id: str | None
    provisioning_state: str | None = None
    # Names of the private DNS zone groups on the private endpoint (a Microsoft.Network child resource, not
    # part of the cache body). None = not read: public-network-access then refuses to close the public path.
    private_dns_zone_groups: tuple[str, ...] | None = None


@dataclass(frozen=True)
class DiagnosticLog:
    category: str | None
    category_group: str | None
    enabled: bool


@dataclass(frozen=True)
class DiagnosticSetting:
    name: str
    workspace_id: str | None
    logs: tuple[DiagnosticLog, ...] = ()


@dataclass(frozen=True)
class MetricAlert:
    """An Azure Monitor metric alert rule (`Microsoft.Insights/metricAlerts`) as the metric-alerts rule sees
    it: which resources it watches, which metrics its criteria name, whom it notifies."""

    id: str
    scopes: tuple[str, ...]
    metrics: tuple[str, ...]  # criteria metric names, e.g. "serverLoad", "cacheLatency"
    action_group_ids: tuple[str, ...]
    enabled: bool = True


@dataclass(frozen=True)
class LogAlertRule:
    """An Azure Monitor scheduled query rule (`Microsoft.Insights/scheduledQueryRules`) as the auth-alerts
    rule sees it: what it watches, whether it runs, its tags and the text of its queries."""

    id: str
    scopes: tuple[str, ...]
    enabled: bool
    tags: Mapping[str, str]
    queries: tuple[str, ...]


@dataclass(frozen=True)
class PolicyState:
    """One Azure Policy assignment's latest verdict on a cache (Microsoft.PolicyInsights policyStates)."""

    assignment_id: str
    definition_id: str
    compliance_state: str  # Compliant | NonCompliant | Conflict | Exempt | Unknown ...


@dataclass(frozen=True)
class CacheSnapshot:
    """The state of one cache as read from ARM under the lease.

    `resource` is the raw ARM GET body (camelCase, absent keys stay absent) so rules can tell "absent"
    from "false". Child collections are `None` when they were not read: rules that need them then report
    `unknown`, never compliant.
    """

    cache_id: ResourceId
    resource: Mapping[str, Any]
    firewall_rules: tuple[FirewallRule, ...] | None = None
    private_endpoint_connections: tuple[PrivateEndpointConnection, ...] | None = None
    diagnostic_settings: tuple[DiagnosticSetting, ...] | None = None
    diagnostic_categories: tuple[str, ...] | None = None  # categories the resource offers
    linked_servers: tuple[Mapping[str, Any], ...] | None = None
    read_at: datetime | None = None
    metric_alerts: tuple[MetricAlert, ...] | None = None  # alert rules scoped to the cache (scans only)
    # Inputs deliberately left unread for this reconcile (scan-only inputs on an event): a rule that needs
    # one reports `not_applicable` ("evaluated in scans") instead of `unknown`, so an event is no drift.
    skipped_inputs: frozenset[str] = frozenset()
    # Azure Managed Redis only: the cluster's database GET bodies (raw, like `resource`), None = not read.
    # For a cluster, `diagnostic_settings`/`diagnostic_categories` are those of its `default` database.
    databases: tuple[Mapping[str, Any], ...] | None = None
    # Azure Managed Redis only: access policy assignments (Entra data access) on the databases, raw list items.
    access_policy_assignments: tuple[Mapping[str, Any], ...] | None = None
    # Data plane, opted-in scopes and scans only: the key-expiry sample (None = not sampled), or why the
    # sample could not be taken (the rule then reports `unknown` with that reason).
    key_expiry: SampleReport | None = None
    key_expiry_error: str | None = None
    # VNet-injected Azure Cache for Redis only: the GET body of the subnet's network security group; {} when
    # the subnet has none; None = not read. An error reading subnet or NSG (403, 404, a hostile id) is kept
    # here so the nsg rule reports it as `unknown`.
    network_security_group: Mapping[str, Any] | None = None
    network_security_group_error: str | None = None
    # Inputs whose read failed (input name -> ARM's error, e.g. "403 AuthorizationFailed: ..."): they stay
    # None, so only the rules that need them report `unknown`; the engine audits each with ARM's error.
    read_errors: Mapping[str, str] = field(default_factory=dict)
    # Those of `read_errors` that ARM may answer next time (throttled, 5xx, busy): the engine defers the cache
    # to read them again rather than leave their rules `unknown` until the next event or scan.
    retryable_read_errors: frozenset[str] = frozenset()
    # Scheduled query rules in the cache's subscription (scans only), None = not read.
    log_alert_rules: tuple[LogAlertRule, ...] | None = None
    # Azure Policy's latest compliance states for the cache (scans only), None = not read.
    policy_states: tuple[PolicyState, ...] | None = None
    # True when `resource` is the body a scan's listing returned rather than a GET made under the lease:
    # good to confirm compliance; the engine reads the cache again before writing anything from it.
    from_listing: bool = False

    @property
    def properties(self) -> Mapping[str, Any]:
        return self.resource.get("properties") or {}

    @property
    def location(self) -> str | None:
        return self.resource.get("location")

    @property
    def tags(self) -> Mapping[str, str]:
        return self.resource.get("tags") or {}

    @property
    def provisioning_state(self) -> str | None:
        """The cache's state; for a cluster, the first database that is not Succeeded overrides it, since a
        database PATCH is refused (busy) while either is updating."""
        state = self.properties.get("provisioningState")
        for db in self.databases or ():
            db_state = (db.get("properties") or {}).get("provisioningState")
            if str(state).lower() == "succeeded" and db_state and str(db_state).lower() != "succeeded":
                return str(db_state)
        return state

    @property
    def sku_name(self) -> str | None:
        sku = self.properties.get("sku") or self.resource.get("sku") or {}
        return sku.get("name")


# ---------------------------------------------------------------------------------------------- findings


@dataclass(frozen=True)
class PropertyFix:
    """Set cache properties. `changes` maps a top-level `properties` key to its new value; a dict value
    (e.g. `redisConfiguration`) holds only the sub-keys that change."""

    changes: Mapping[str, Any]


@dataclass(frozen=True)
class DatabaseFix:
    """Set Azure Managed Redis database properties: database name -> {top-level `properties` key: value}.
    A separate type from PropertyFix because a database is its own ARM resource with its own PATCH."""

    changes: Mapping[str, Mapping[str, Any]]


@dataclass(frozen=True)
class FirewallFix:
    """Bring the firewall rules inside the allowed ranges. `remove` are rule names that are out of
    policy; `allowed` the address ranges (start, end) the cache may admit, already scoped."""

    remove: tuple[str, ...]
    allowed: tuple[tuple[str, str], ...]
    # Limits the planner must respect when it creates replacement rules (None = no limit), so a
    # replacement is never itself out of policy (which would make the rule and planner fight forever).
    max_range_size: int | None = None
    max_rules: int | None = None


@dataclass(frozen=True)
class CreateDiagnosticSetting:
    name: str
    workspace_id: str
    categories: tuple[str, ...] = ()
    category_groups: tuple[str, ...] = ()


@dataclass(frozen=True)
class MetricAlertSpec:
    """One metric alert rule to create: static threshold on one metric of the cache."""

    name: str
    metric: str
    aggregation: str  # Average | Maximum | ...
    operator: str  # GreaterThan | ...
    threshold: float
    window_size: str = "PT15M"
    evaluation_frequency: str = "PT5M"


@dataclass(frozen=True)
class CreateMetricAlerts:
    """Create the metric alert rules that are missing, each scoped to the cache, notifying the group."""

    action_group_id: str
    alerts: tuple[MetricAlertSpec, ...]


@dataclass(frozen=True)
class ManualFix:
    """No safe automatic fix: a person must act. The reason says what to do."""

    reason: str


Remediation = PropertyFix | DatabaseFix | FirewallFix | CreateDiagnosticSetting | CreateMetricAlerts | ManualFix


@dataclass(frozen=True)
class Exemption:
    id: str
    rule: str
    scope: str
    expires: datetime
    justification: str
    approver: str


@dataclass(frozen=True)
class Finding:
    rule: str
    status: Status
    effect: Effect
    severity: Severity
    reason: str
    before: Any = None  # the offending value(s) as read
    after: Any = None  # the value(s) remediation would set
    remediation: Remediation | None = None
    exemption: Exemption | None = None
    notes: tuple[str, ...] = ()  # e.g. an exemption that expired, a tag naming an unknown exemption

    @property
    def compliant(self) -> bool:
        return self.status.is_compliant

    def as_dict(self) -> dict[str, Any]:
        return {
            "rule": self.rule,
            "status": str(self.status),
            "compliant": self.compliant,
            "effect": str(self.effect),
            "severity": str(self.severity),
            "reason": self.reason,
        }


# ---------------------------------------------------------------------------------------------- plan


@dataclass(frozen=True)
class PatchCache:
    """One PATCH of the cache. `body` is exactly what is sent: only the changed fields."""

    body: Mapping[str, Any]
    rules: tuple[str, ...]
    before: Mapping[str, Any]
    after: Mapping[str, Any]


@dataclass(frozen=True)
class PatchDatabase(PatchCache):
    """One PATCH of an Azure Managed Redis database (`.../redisEnterprise/{cluster}/databases/{database}`).
    A PatchCache subclass so every consumer of cache PATCHes (audit, dry-run, safety check) covers it too."""

    database: str = "default"


@dataclass(frozen=True)
class PutFirewallRule:
    rule: str  # the baseline rule id that asked for it
    name: str
    start_ip: str
    end_ip: str
    replaces: str | None = None


@dataclass(frozen=True)
class DeleteFirewallRule:
    rule: str
    name: str
    start_ip: str  # what we expect to find; the gateway re-lists and refuses if it changed
    end_ip: str


@dataclass(frozen=True)
class PutDiagnosticSetting:
    rule: str
    name: str
    workspace_id: str
    categories: tuple[str, ...] = ()
    category_groups: tuple[str, ...] = ()


@dataclass(frozen=True)
class ManualAction:
    rule: str
    reason: str


@dataclass(frozen=True)
class PutMetricAlert:
    """Create (or replace) one static-threshold metric alert rule in the cache's resource group, scoped to
    the cache and notifying the action group. Only additive: it never changes who can reach the cache."""

    rule: str
    name: str
    scope: str  # the cache's ARM id
    metric: str
    metric_namespace: str
    aggregation: str
    operator: str
    threshold: float
    window_size: str
    evaluation_frequency: str
    action_group_id: str
    severity: int = 3


Step = PatchCache | PutFirewallRule | DeleteFirewallRule | PutDiagnosticSetting | PutMetricAlert | ManualAction


@dataclass(frozen=True)
class Plan:
    steps: tuple[Step, ...] = ()
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def writes(self) -> tuple[Step, ...]:
        return tuple(s for s in self.steps if not isinstance(s, ManualAction))
