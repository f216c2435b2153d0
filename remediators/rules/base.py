"""What every rule declares about itself and what it gets to evaluate with.

Rules are pure: they look at a `CacheSnapshot` and a `RuleContext` and return a `Verdict`. The baseline
turns a verdict into a `Finding` by adding the configured effect, the severity and any exemption, so a rule
never needs to know how it is configured to be enforced.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, Protocol

from ..models import CacheSnapshot, Effect, Remediation, Severity, Status
from ..resource_ids import CacheKind
from .frameworks import FrameworkRef

RemediationKind = Literal["patch", "firewall", "diagnostic-setting", "metric-alerts", "manual", "none"]
SnapshotInput = Literal[
    "firewall_rules",
    "diagnostic_settings",
    "diagnostic_categories",
    "linked_servers",
    "metric_alerts",
    "private_dns_zone_groups",  # per approved private endpoint: its privateDnsZoneGroups (Microsoft.Network)
    "access_policy_assignments",  # Azure Managed Redis: Entra access policy assignments on a database
    "network_security_group",  # VNet-injected caches: the NSG on properties.subnetId (Microsoft.Network)
    "policy_states",  # Azure Policy compliance of the cache (Microsoft.PolicyInsights), scans only
    "log_alert_rules",  # scheduled query rules in the cache's subscription (scans only)
    "key_expiry",  # data plane: a bounded SCAN + PTTL sample (remediators/dataplane), opted-in scopes only
]


@dataclass(frozen=True)
class RuleMetadata:
    """Prowler-style check metadata: enough to generate the catalogue and explain every finding."""

    id: str
    title: str
    severity: Severity
    rationale: str
    resource_types: tuple[CacheKind, ...]
    default_effect: Effect
    remediation_kind: RemediationKind
    remediation: str  # how it is fixed, in words
    what_could_break: str
    azure_policy: tuple[str, ...] = ()  # built-in definition ids (first 8 hex digits are enough to cite)
    psrule: tuple[str, ...] = ()
    checkov: tuple[str, ...] = ()
    pitfalls: tuple[str, ...] = ()
    disruptive: bool = False  # remediation only with an opt-in and inside a maintenance window
    # The rule's input is read only for scopes that opt in to the rule (e.g. the cache's data plane), so a
    # scope may name it in `optIn` although it has no disruptive remediation.
    opt_in_reads: bool = False
    needs: frozenset[SnapshotInput] = frozenset()  # snapshot inputs beyond the cache GET body
    # controls this rule gives evidence for (rules/frameworks.py): shown in docs/baseline.md, the pack, its
    # CSV and OCSF exports
    frameworks: tuple[FrameworkRef, ...] = ()


@dataclass(frozen=True)
class RuleContext:
    """Everything a rule may consult besides the snapshot, already resolved for this cache's scope."""

    params: Mapping[str, Any] = field(default_factory=dict)
    now: datetime | None = None
    opted_in: bool = False  # the scope opted in to this rule's disruptive remediation (or opt-in read)
    in_maintenance_window: bool = False


@dataclass(frozen=True)
class Verdict:
    status: Status
    reason: str
    before: Any = None
    after: Any = None
    remediation: Remediation | None = None


class Rule(Protocol):
    metadata: RuleMetadata

    def evaluate(self, snapshot: CacheSnapshot, ctx: RuleContext) -> Verdict: ...
