"""metric-alerts: Azure Monitor metric alerts watch the cache's load, latency and bandwidth.

Evaluated in scans only: alert rules are separate resources (`Microsoft.Insights/metricAlerts`) found by
listing the resource group or subscription, which is too costly on every cache event. The gateway fills
`CacheSnapshot.metric_alerts` (None = not read -> `unknown`) with one `MetricAlert` per alert rule whose
scopes include the cache: its scopes, the metric names in its criteria and its action group ids. On an
event reconcile the engine leaves the list unread on purpose and says so in `snapshot.skipped_inputs`: the
finding is then `not_applicable` ("evaluated in scans"), so a cache event never records an alert drift.

Coverage: an enabled alert scoped to the cache (or to its resource group / subscription) that notifies the
configured action group and names the metric. Required: `serverLoad`, `cacheLatency` (the latency metric,
in microseconds) and the bandwidth pair `cacheRead` + `cacheWrite`; the instance-based variants
(`allserverLoad`, `allcacheRead`, `allcacheWrite`) count too. Metric names compare case-insensitively.

Remediation creates one static-threshold alert per missing metric. Thresholds come from the `thresholds`
parameter; server load and latency have defaults (80 % is the load Microsoft recommends staying under;
15 ms latency is our starting point), bandwidth has none because it depends on the SKU's network limit, so a
missing bandwidth alert without a configured threshold is a manual action.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ...models import (
    CacheSnapshot,
    CreateMetricAlerts,
    Effect,
    MetricAlert,
    MetricAlertSpec,
    Severity,
    Status,
)
from ...resource_ids import CacheKind
from ..base import RuleContext, RuleMetadata, Verdict
from ..common import manual
from ..frameworks import MONITORING

RULE_ID = "metric-alerts"
REQUIRED = ("serverLoad", "cacheLatency", "cacheRead", "cacheWrite")
_ALIASES = {
    "serverload": "serverLoad",
    "allserverload": "serverLoad",
    "cachelatency": "cacheLatency",
    "cacheread": "cacheRead",
    "allcacheread": "cacheRead",
    "cachewrite": "cacheWrite",
    "allcachewrite": "cacheWrite",
}
DEFAULT_THRESHOLDS: Mapping[str, float] = {"serverLoad": 80.0, "cacheLatency": 15000.0}
_AGGREGATION = {"serverLoad": "Maximum", "cacheLatency": "Average", "cacheRead": "Maximum", "cacheWrite": "Maximum"}

METADATA = RuleMetadata(
    id=RULE_ID,
    frameworks=MONITORING,
    title="Metric alerts cover server load, latency and bandwidth",
    severity=Severity.LOW,
    rationale=(
        "Sustained server load over 80 % leads to timeouts and unplanned failovers; latency and bandwidth "
        "saturation are the other early signs. Without alerts the first signal is an outage."
    ),
    resource_types=(CacheKind.REDIS,),
    default_effect=Effect.REMEDIATE,
    remediation_kind="metric-alerts",
    remediation=(
        "Create the missing static-threshold metric alerts scoped to the cache, notifying the configured "
        "action group (thresholds from the 'thresholds' parameter; bandwidth needs one configured)."
    ),
    what_could_break="Nothing on the cache; alert rules are billed per monitored time series.",
    pitfalls=(
        "Alert rules are separate resources: evaluated in scans, not on every cache event.",
        "Bandwidth limits depend on the SKU, so there is no safe default bandwidth threshold.",
        "cacheLatency is reported in microseconds.",
    ),
    needs=frozenset({"metric_alerts"}),
)


def _within(scope: str, cache_id: str) -> bool:
    """An alert scoped to the cache, or to a resource group / subscription that contains it."""
    s = scope.rstrip("/").lower()
    c = cache_id.lower()
    return c == s or c.startswith(s + "/")


def _covered(alerts: tuple[MetricAlert, ...], cache_id: str, action_group: str) -> set[str]:
    group = action_group.rstrip("/").lower()
    out: set[str] = set()
    for alert in alerts:
        if not alert.enabled or not any(_within(s, cache_id) for s in alert.scopes):
            continue
        if group not in {g.rstrip("/").lower() for g in alert.action_group_ids}:
            continue
        out |= {_ALIASES[m.lower()] for m in alert.metrics if m.lower() in _ALIASES}
    return out


def _thresholds(params: Mapping[str, Any]) -> dict[str, float]:
    configured = params.get("thresholds")
    merged = dict(DEFAULT_THRESHOLDS)
    if isinstance(configured, Mapping):
        merged.update({k: float(v) for k, v in configured.items() if k in REQUIRED})
    return merged


class MetricAlertsRule:
    metadata = METADATA

    def evaluate(self, snapshot: CacheSnapshot, ctx: RuleContext) -> Verdict:
        if snapshot.cache_id.kind is not CacheKind.REDIS:
            return Verdict(Status.NOT_APPLICABLE, "Azure Managed Redis is covered by a later rule set")
        alerts = snapshot.metric_alerts
        if alerts is None and "metric_alerts" in snapshot.skipped_inputs:
            # An event reconcile: alert rules are separate resources, listed only in scans. Not a drift.
            return Verdict(Status.NOT_APPLICABLE, "evaluated in scans, not on cache events")
        if alerts is None:
            return Verdict(Status.UNKNOWN, "metric alert rules were not read (evaluated in scans)")
        group = ctx.params.get("actionGroupId")
        if not isinstance(group, str) or not group:
            return manual(
                "no action group is configured, so alert coverage cannot be checked",
                "Configure the action group: WARDEN_ACTION_GROUP_RESOURCE_ID or the metric-alerts "
                "parameter actionGroupId in the baseline.",
            )
        have = _covered(alerts, snapshot.cache_id.arm_id, group)
        missing = [m for m in REQUIRED if m not in have]
        if not missing:
            return Verdict(Status.COMPLIANT, "server load, latency and bandwidth alerts notify the action group")
        reason = "no alert notifying the action group covers: " + ", ".join(missing)
        thresholds = _thresholds(ctx.params)
        unset = [m for m in missing if m not in thresholds]
        if unset:
            return manual(
                reason,
                "Configure thresholds for " + ", ".join(unset) + " (bytes per second, from the SKU's "
                "network bandwidth) in the metric-alerts parameter 'thresholds', or create the alerts.",
                before=sorted(have),
            )
        name = snapshot.cache_id.name
        specs = tuple(
            MetricAlertSpec(
                name=f"warden-{name}-{metric}",
                metric=metric,
                aggregation=_AGGREGATION[metric],
                operator="GreaterThan",
                threshold=thresholds[metric],
            )
            for metric in missing
        )
        return Verdict(
            Status.NON_COMPLIANT,
            reason,
            before=sorted(have),
            after=list(missing),
            remediation=CreateMetricAlerts(action_group_id=group, alerts=specs),
        )


RULE = MetricAlertsRule()
