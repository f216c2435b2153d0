"""amr-diagnostic-logs: an Azure Managed Redis database sends `ConnectionEvents` to the workspace.

On Azure Managed Redis the diagnostic setting lives on the database (`.../redisEnterprise/{cluster}/
databases/default`), not the cluster; the gateway reads the `default` database's settings and offered
categories into the snapshot. `ConnectionEvents` (new connection, authentication, disconnection; table
REDConnectionEvents) is the resource type's only log category, so an enabled entry covers it when it names
it or names the category group `allLogs` or `audit` (the built-in DINE fa570aa1 deploys `audit` by default for
this type, and Azure Monitor files REDConnectionEvents under Audit).

Remediation mirrors diagnostic-logs: create `warden-logs` on the database, unless another setting already
sends the category to the workspace under another name (ARM refuses a duplicate sink: manual), a
`warden-logs` aimed elsewhere exists (not ours to overwrite), five settings exist, or the categories offered
were not read / do not include it. The workspace comes from this rule's `workspaceId` parameter.
"""

from __future__ import annotations

from ...models import CacheSnapshot, CreateDiagnosticSetting, DiagnosticSetting, Effect, Severity, Status
from ...resource_ids import CacheKind
from ..base import RuleContext, RuleMetadata, Verdict
from ..common import manual
from ..frameworks import LOGGING
from ..redis.diagnostic_logs import SETTING_NAME, not_created, same_id, sink_blocker
from .common import DEFAULT_DATABASE, databases

RULE_ID = "amr-diagnostic-logs"
REQUIRED = "ConnectionEvents"
COVERING_GROUPS = frozenset({"alllogs", "audit"})

METADATA = RuleMetadata(
    id=RULE_ID,
    frameworks=LOGGING,
    title="Azure Managed Redis connection events go to the workspace",
    severity=Severity.MEDIUM,
    rationale=(
        "Without ConnectionEvents there is no record of which addresses connected or authenticated to the "
        "database, so an incident cannot be investigated (MCSB LT-3)."
    ),
    resource_types=(CacheKind.REDIS_ENTERPRISE,),
    default_effect=Effect.REMEDIATE,
    remediation_kind="diagnostic-setting",
    remediation=(
        f"Create diagnostic setting '{SETTING_NAME}' on the cluster's default database sending "
        "ConnectionEvents to the configured Log Analytics workspace; manual when no workspace is configured or "
        "another setting already sends the category there."
    ),
    what_could_break="Nothing on the cache; Log Analytics ingestion is billed per GB.",
    azure_policy=("fa570aa1-acca-4eea-8e5a-233cf2c5e4c2",),  # the DINE it replaces (Log Analytics sink)
    pitfalls=(
        "The setting lives on databases/default, not on the cluster.",
        "ARM refuses two settings sending the same category to the same destination: create nothing then.",
        "Creating a setting needs Microsoft.OperationalInsights/workspaces/sharedKeys/action on the workspace.",
        "The workspace is this rule's workspaceId parameter (the app setting feeds diagnostic-logs only).",
    ),
    needs=frozenset({"diagnostic_settings", "diagnostic_categories"}),
)


def covers(setting: DiagnosticSetting) -> bool:
    for log in setting.logs:
        if not log.enabled:
            continue
        if log.category and log.category.lower() == REQUIRED.lower():
            return True
        if log.category_group and log.category_group.lower() in COVERING_GROUPS:
            return True
    return False


class AmrDiagnosticLogsRule:
    metadata = METADATA

    def evaluate(self, snapshot: CacheSnapshot, ctx: RuleContext) -> Verdict:
        dbs = databases(snapshot)
        if dbs is not None and not any(name.lower() == DEFAULT_DATABASE for name, _ in dbs):
            return Verdict(Status.NOT_APPLICABLE, "the cluster has no default database")
        settings = snapshot.diagnostic_settings
        if settings is None:
            return Verdict(Status.UNKNOWN, "the default database's diagnostic settings were not read")
        workspace = ctx.params.get("workspaceId")
        if not isinstance(workspace, str) or not workspace:
            return manual(
                "no Log Analytics workspace is configured, so log delivery cannot be checked",
                f"Configure the workspace: the {RULE_ID} parameter workspaceId.",
            )
        to_workspace = [s for s in settings if same_id(s.workspace_id, workspace)]
        if any(covers(s) for s in to_workspace):
            return Verdict(Status.COMPLIANT, "connection events are sent to the workspace")
        reason = f"{REQUIRED} of the default database is not sent to the workspace"
        before = {s.name: s.workspace_id for s in settings}
        blocker = sink_blocker(settings, snapshot.diagnostic_categories, workspace, (REQUIRED,), "database")
        if blocker is not None:
            return not_created(reason, before, blocker)
        return Verdict(
            Status.NON_COMPLIANT,
            reason,
            before=before,
            after={SETTING_NAME: workspace},
            remediation=CreateDiagnosticSetting(name=SETTING_NAME, workspace_id=workspace, categories=(REQUIRED,)),
        )


RULE = AmrDiagnosticLogsRule()
