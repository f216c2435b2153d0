"""Azure Monitor (`Microsoft.Insights`): diagnostic settings and their log categories on a cache or an Azure
Managed Redis database, metric alert rules in a cache's resource group, and the scheduled query rules (log
alerts) of a subscription for the auth-alerts rule. azure-mgmt-monitor 6.0.2 only knows the 2018-04-16 log
alert shape; infra/ deploys 2023-12-01 rules (`criteria.allOf[].query`, `scopes`), so that list goes through the
session's plain pipeline at the version infra deploys.

Write bodies are raw JSON holding only what the step sets (a dict body: the SDK models would add nothing
harmful here, but raw JSON keeps every write body reviewable)."""

from __future__ import annotations

import json
from typing import Any

from azure.mgmt.monitor import MonitorManagementClient

from ..models import (
    DiagnosticSetting,
    LogAlertRule,
    MetricAlert,
    PutDiagnosticSetting,
    PutMetricAlert,
)
from ..resource_ids import ResourceId
from .bodies import InvalidBody, diagnostic_settings
from .errors import ArmError
from .pipeline import ApplyResult, ArmSession, ResponseInfo, raw_json
from .shared import SharedReads

METRIC_ALERT_CRITERIA = "Microsoft.Azure.Monitor.SingleResourceMultipleMetricCriteria"

ACTIONS = frozenset({
    "Microsoft.Insights/diagnosticSettings/read",
    "Microsoft.Insights/diagnosticSettings/write",
    "Microsoft.Insights/diagnosticSettingsCategories/read",
    # Linked check on the destination workspace when a diagnostic setting points at it.
    "Microsoft.OperationalInsights/workspaces/sharedKeys/action",
    "Microsoft.Insights/metricAlerts/read",
    "Microsoft.Insights/actionGroups/read",  # linked check on the action group a metric alert notifies
    "Microsoft.Insights/metricAlerts/write",
    "Microsoft.Insights/scheduledQueryRules/read",  # auth-alerts
})
SCHEDULED_QUERY_RULES_API_VERSION = "2023-12-01"
DIAGNOSTIC_SETTINGS_API_VERSION = "2021-05-01-preview"  # what azure-mgmt-monitor 6.0.2 sends for diagnosticSettings


class Monitor:
    """Azure Monitor reads and writes for any resource kind; every failure is an `ArmError`."""

    def __init__(self, session: ArmSession, shared: SharedReads | None = None) -> None:
        self.session = session
        self.shared = shared or SharedReads()

    def _client(self, subscription_id: str) -> MonitorManagementClient:
        return self.session.client(MonitorManagementClient, subscription_id)

    def log_alert_rules(self, subscription_id: str, scan_id: str | None = None) -> tuple[LogAlertRule, ...]:
        """Every scheduled query rule in the subscription (auth-alerts checks which watch the workspace);
        listed once per subscription per scan, since it is the same list for every cache there."""
        path = f"/subscriptions/{subscription_id}/providers/Microsoft.Insights/scheduledQueryRules"
        return self.shared.per_scan(scan_id, ("log_alert_rules", subscription_id), lambda: tuple(
            log_alert_rule(i) for i in self.session.list(path, SCHEDULED_QUERY_RULES_API_VERSION)))

    def read_diagnostics(
        self, target: str, subscription_id: str, needs: frozenset[str], resource_type: str
    ) -> tuple[tuple[DiagnosticSetting, ...] | None, tuple[str, ...] | None]:
        """Diagnostic settings and offered log categories of `target` (a cache, or an Azure Managed Redis
        database of `resource_type`), each only when `needs` asks for it; what is not read stays None.
        The categories are read from the first resource of each type and kept for the others
        (`SharedReads.per_type`): Azure Monitor offers the same categories for every resource of a type."""
        s, monitor = self.session, self._client(subscription_id)
        settings = categories = None
        if "diagnostic_settings" in needs:
            # Raw JSON through the session's pipeline: the SDK models cost more CPU than they give (issue 13).
            items = s.list(f"{target}/providers/Microsoft.Insights/diagnosticSettings", DIAGNOSTIC_SETTINGS_API_VERSION)
            try:
                settings = diagnostic_settings(items)
            except InvalidBody as exc:
                raise ArmError("invalid", f"{target}: {exc}", code="InvalidListAnswer") from exc
        if "diagnostic_categories" in needs:
            def read() -> tuple[str, ...]:
                found = s.list_sdk(lambda: monitor.diagnostic_settings_category.list(target, **s.timeouts),
                                   f"diagnostic categories of {target}")
                return tuple(str(c.name) for c in found if c.name)
            categories = self.shared.per_type(resource_type, "diagnostic_categories", read)
        return settings, categories

    def metric_alerts(self, cache: ResourceId, scan_id: str | None = None) -> tuple[MetricAlert, ...]:
        """Metric alert rules in the cache's resource group whose scopes contain the cache (the cache itself,
        its resource group or subscription). Rules kept in other resource groups are not seen. The group's
        list is read once per scan and filtered for each cache in it; our own alert PUT forgets it."""
        s, monitor = self.session, self._client(cache.subscription_id)
        rg = cache.resource_group
        items = self.shared.per_scan(scan_id, _alerts_scope(cache), lambda: s.list_sdk(
            lambda: monitor.metric_alerts.list_by_resource_group(rg, **s.timeouts), f"metric alerts in {rg}"))
        key = cache.arm_id.lower()
        out = []
        for item in items:
            scopes = tuple(str(sc) for sc in item.scopes or ())
            if not any(key == sc.rstrip("/").lower() or key.startswith(sc.rstrip("/").lower() + "/")
                       for sc in scopes):
                continue
            criteria = getattr(item.criteria, "all_of", None) or ()
            out.append(MetricAlert(
                id=str(item.id),
                scopes=scopes,
                metrics=tuple(str(c.metric_name) for c in criteria if getattr(c, "metric_name", None)),
                action_group_ids=tuple(str(a.action_group_id) for a in item.actions or () if a.action_group_id),
                enabled=bool(item.enabled),
            ))
        return tuple(out)

    def put_diagnostic_setting(self, target: str, subscription_id: str, step: PutDiagnosticSetting) -> ApplyResult:
        """The same setting body on a cache or on an Azure Managed Redis database (`target` is its id)."""
        s, monitor = self.session, self._client(subscription_id)
        logs = [{"category": c, "enabled": True} for c in step.categories]
        logs += [{"categoryGroup": g, "enabled": True} for g in step.category_groups]
        body = json.dumps({"properties": {"workspaceId": step.workspace_id, "logs": logs}}).encode("utf-8")
        info = ResponseInfo()
        resource = s.call(
            lambda: monitor.diagnostic_settings.create_or_update(
                target, step.name, body, content_type="application/json", cls=raw_json,
                raw_response_hook=info, **s.timeouts,
            )
        )
        return info.done(resource)

    def put_metric_alert(self, cache: ResourceId, step: PutMetricAlert) -> ApplyResult:
        """PUT one alert rule in the cache's resource group with only the fields it needs."""
        s, monitor = self.session, self._client(cache.subscription_id)
        body = {
            "location": "global",
            "properties": {
                "description": f"redis-warden: {step.metric} on {cache.name} (rule {step.rule})",
                "severity": step.severity,
                "enabled": True,
                "scopes": [step.scope],
                "evaluationFrequency": step.evaluation_frequency,
                "windowSize": step.window_size,
                "criteria": {
                    "odata.type": METRIC_ALERT_CRITERIA,
                    "allOf": [{
                        "criterionType": "StaticThresholdCriterion",
                        "name": step.metric,
                        "metricName": step.metric,
                        "metricNamespace": step.metric_namespace,
                        "operator": step.operator,
                        "threshold": step.threshold,
                        "timeAggregation": step.aggregation,
                    }],
                },
                "autoMitigate": True,
                "actions": [{"actionGroupId": step.action_group_id}],
            },
        }
        info = ResponseInfo()
        try:
            resource = s.call(
                lambda: monitor.metric_alerts.create_or_update(
                    cache.resource_group, step.name, json.dumps(body).encode("utf-8"),
                    content_type="application/json", cls=raw_json, raw_response_hook=info, **s.timeouts,
                )
            )
        finally:  # also when it failed: ARM may have taken it before the answer was lost
            self.shared.forget(_alerts_scope(cache))
        return info.done(resource)


def _alerts_scope(cache: ResourceId) -> tuple[str, ...]:
    return ("metric_alerts", cache.subscription_id, cache.resource_group)


def _strings(value: Any) -> tuple[str, ...]:
    return tuple(str(v) for v in value) if isinstance(value, list) else ()


def log_alert_rule(item: Any) -> LogAlertRule:
    """A scheduled query rule list item as the auth-alerts rule reads it."""
    props = item.get("properties") or {}
    criteria = (props.get("criteria") or {}).get("allOf") or []
    tags = item.get("tags") if isinstance(item.get("tags"), dict) else {}
    return LogAlertRule(
        id=str(item.get("id", "")),
        scopes=_strings(props.get("scopes")),
        enabled=props.get("enabled") is True,
        tags={str(k): str(v) for k, v in (tags or {}).items()},
        queries=tuple(str(c.get("query")) for c in criteria if isinstance(c, dict) and c.get("query")),
    )
