"""auth-alerts: scheduled query rules watch the connection logs for unusual authentication events.

Microsoft's Redis security guidance: "configure Azure Monitor alerts to notify you of unusual
authentication events". The detections are `remediators.detections.DETECTIONS`, deployed by
`infra/modules/auth-alerts.bicep`; this rule checks, per cache, that each detection for its kind has an
enabled scheduled query rule tagged `warden-detection=<id>` whose scopes include the configured workspace
(where diagnostic-logs / amr-diagnostic-logs send the connection logs) and whose query reads the detection's
table. A rule someone made themselves counts when it carries the tag.

Scans only: alert rules are separate resources, listed per subscription (like metric-alerts). The
unexpected-client detections are required only when `expectUnexpectedClientAlerts` is true (infra deploys
them only when allowed client ranges are configured).
"""

from __future__ import annotations

from ..detections import DETECTION_TAG, Detection, detections_for
from ..models import CacheSnapshot, Effect, LogAlertRule, Severity, Status
from ..resource_ids import CacheKind
from .base import RuleContext, RuleMetadata, Verdict
from .common import manual
from .frameworks import MONITORING

RULE_ID = "auth-alerts"

METADATA = RuleMetadata(
    id=RULE_ID,
    title="Alerts fire on unusual authentication events",
    severity=Severity.MEDIUM,
    rationale=(
        "Connection logs only help if someone is told: repeated failed authentications and clients from "
        "unexpected networks are the first signs of credential guessing or a leaked token."
    ),
    resource_types=(CacheKind.REDIS, CacheKind.REDIS_ENTERPRISE),
    default_effect=Effect.AUDIT,
    frameworks=MONITORING,
    remediation_kind="manual",
    remediation=(
        "Deploy infra/modules/auth-alerts.bicep (part of azd up) for the workspace, or create scheduled query "
        "rules tagged warden-detection=<id> over the same tables."
    ),
    what_could_break="Nothing: detect only. Log alert rules are billed per rule and evaluation frequency.",
    pitfalls=(
        "Alert rules are separate resources: evaluated in scans, not on every cache event.",
        "Azure Cache for Redis logs Entra authentications only; failed access-key authentications are not "
        "logged, so keys off (access-keys) is what makes the failed-auth alert complete.",
        "The unexpected-client alerts need the allowed client ranges; without them every client would alert.",
    ),
    needs=frozenset({"log_alert_rules"}),
)


def _same(a: str, b: str) -> bool:
    return a.rstrip("/").lower() == b.rstrip("/").lower()


def _covers(rule: LogAlertRule, detection: Detection, workspace: str) -> bool:
    tag = next((v for k, v in rule.tags.items() if k.lower() == DETECTION_TAG), None)
    return (
        rule.enabled
        and isinstance(tag, str)
        and tag.lower() == detection.id
        and any(_same(s, workspace) for s in rule.scopes)
        and any(detection.table.lower() in q.lower() for q in rule.queries)
    )


class AuthAlertsRule:
    metadata = METADATA

    def evaluate(self, snapshot: CacheSnapshot, ctx: RuleContext) -> Verdict:
        rules = snapshot.log_alert_rules
        if rules is None and "log_alert_rules" in snapshot.skipped_inputs:
            return Verdict(Status.NOT_APPLICABLE, "evaluated in scans, not on cache events")
        if rules is None:
            return Verdict(Status.UNKNOWN, "scheduled query rules were not read (evaluated in scans)")
        workspace = ctx.params.get("workspaceId")
        if not isinstance(workspace, str) or not workspace:
            return manual(
                "no Log Analytics workspace is configured, so alert coverage cannot be checked",
                "Configure WARDEN_LOG_ANALYTICS_WORKSPACE_RESOURCE_ID or the auth-alerts parameter workspaceId.",
            )
        wanted = detections_for(snapshot.cache_id.kind,
                                with_allowed_ranges=ctx.params.get("expectUnexpectedClientAlerts") is True)
        missing = [d.id for d in wanted if not any(_covers(r, d, workspace) for r in rules)]
        if not missing:
            return Verdict(Status.COMPLIANT, "alert rules watch the workspace for " + ", ".join(d.id for d in wanted))
        return manual(
            "no enabled alert rule on the workspace covers: " + ", ".join(missing),
            "Deploy infra/modules/auth-alerts.bicep (azd up) for this workspace, or tag your own scheduled "
            f"query rules {DETECTION_TAG}=<id> for: " + ", ".join(missing) + ".",
            before=sorted(r.id for r in rules if any(_same(s, workspace) for s in r.scopes)),
        )


RULE = AuthAlertsRule()
