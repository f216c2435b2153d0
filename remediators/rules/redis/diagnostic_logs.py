"""diagnostic-logs: the cache's resource logs reach the configured Log Analytics workspace.

Required categories: `ConnectedClientList` (who connects, from which IP) and `MSEntraAuthenticationAuditLog`
(Entra sign-ins). An enabled log entry covers a category when it names it, or names a category group that
contains it: `allLogs` contains both; `audit` is taken to contain only `MSEntraAuthenticationAuditLog`
(ConnectedClientList is an operational log). Counting `audit` as covering less is the strict reading: at
worst we ask for a setting that already exists, and that case ends as a manual action (below), not a write.
Several settings may share the work, as long as each sends to the configured workspace (compared
case-insensitively, as ARM ids are).

Remediation is a new setting `warden-logs` with the required categories. ARM refuses a second setting that
sends a category to a destination another setting already sends it to, so when any *other* setting already
sends one of the required categories to the workspace we report a manual action naming that setting instead
of creating one that fails. An existing `warden-logs` aimed elsewhere is not ours to overwrite (a PUT
replaces every destination on it); ARM allows at most five settings per resource.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from ...models import (
    CacheSnapshot,
    CreateDiagnosticSetting,
    DiagnosticSetting,
    Effect,
    Severity,
    Status,
)
from ...resource_ids import CacheKind
from ..base import RuleContext, RuleMetadata, Verdict
from ..common import manual
from ..frameworks import LOGGING

RULE_ID = "diagnostic-logs"
SETTING_NAME = "warden-logs"
REQUIRED = ("ConnectedClientList", "MSEntraAuthenticationAuditLog")
GROUPS = {
    "alllogs": frozenset(c.lower() for c in REQUIRED),
    "audit": frozenset({"msentraauthenticationauditlog"}),
}
MAX_SETTINGS = 5

METADATA = RuleMetadata(
    id=RULE_ID,
    frameworks=LOGGING,
    title="Connection and Entra audit logs go to the workspace",
    severity=Severity.MEDIUM,
    rationale=(
        "Without resource logs there is no record of which addresses connected or which identities signed "
        "in, so an incident on the cache cannot be investigated (MCSB LT-3)."
    ),
    resource_types=(CacheKind.REDIS,),
    default_effect=Effect.REMEDIATE,
    remediation_kind="diagnostic-setting",
    remediation=(
        f"Create diagnostic setting '{SETTING_NAME}' sending ConnectedClientList and "
        "MSEntraAuthenticationAuditLog to the configured Log Analytics workspace; manual when no workspace "
        "is configured or another setting already sends those categories there."
    ),
    what_could_break=(
        "Nothing on the cache; Log Analytics ingestion is billed per GB (ConnectedClientList logs every 10 "
        "seconds)."
    ),
    azure_policy=("aec4c33f-2f2a-4fd3-91cd-24a939513c60",),  # the DINE it replaces (Log Analytics sink)
    pitfalls=(
        "ARM refuses two settings sending the same category to the same destination: create nothing then.",
        "At most five diagnostic settings per resource.",
        "Creating a setting needs Microsoft.OperationalInsights/workspaces/sharedKeys/action on the workspace.",
        "Built-in DINE aec4c33f deploys by category group; assigned beside this rule, ARM refuses the second sink.",
        "On Azure Managed Redis the setting lives on the database, not the cluster.",
    ),
    needs=frozenset({"diagnostic_settings", "diagnostic_categories"}),
)


def same_id(a: str | None, b: str | None) -> bool:
    return bool(a) and bool(b) and a.rstrip("/").lower() == b.rstrip("/").lower()


def covered(setting: DiagnosticSetting) -> frozenset[str]:
    """Lower-cased required categories this setting sends (enabled entries only)."""
    out: set[str] = set()
    for log in setting.logs:
        if not log.enabled:
            continue
        if log.category:
            out.add(log.category.lower())
        if log.category_group:
            out |= GROUPS.get(log.category_group.lower(), frozenset())
    return frozenset(out) & frozenset(c.lower() for c in REQUIRED)


def _names(values: Iterable[str]) -> str:
    return ", ".join(sorted(values))


def sink_blocker(
    settings: Sequence[DiagnosticSetting],
    offered: Sequence[str] | None,
    workspace: str,
    required: Sequence[str],
    holder: str,
) -> str | None:
    """Why our setting cannot be created safely on `holder` ("cache", "database"), or None when it can: a
    same-named setting elsewhere would be overwritten, ARM allows five settings, and a category the resource
    does not offer (or offers unread) makes ARM refuse the PUT."""
    ours = next((s for s in settings if s.name.lower() == SETTING_NAME), None)
    if ours is not None and not same_id(ours.workspace_id, workspace):
        return (
            f"a setting named '{SETTING_NAME}' exists with another destination; replacing it would drop "
            "that destination."
        )
    if ours is None and len(settings) >= MAX_SETTINGS:
        return f"the {holder} already has {len(settings)} settings (ARM max 5)."
    if offered is None:
        return f"the log categories the {holder} offers were not read."
    offered_lower = {c.lower() for c in offered}
    not_offered = [c for c in required if c.lower() not in offered_lower]
    if not_offered:
        return f"the {holder} does not offer {_names(not_offered)}."
    return None


def not_created(reason: str, before: object, why: str) -> Verdict:
    return manual(reason, "Not creating a diagnostic setting: " + why, before=before)


class DiagnosticLogsRule:
    metadata = METADATA

    def evaluate(self, snapshot: CacheSnapshot, ctx: RuleContext) -> Verdict:
        if snapshot.cache_id.kind is not CacheKind.REDIS:
            return Verdict(Status.NOT_APPLICABLE, "Azure Managed Redis is covered by a later rule set")
        settings = snapshot.diagnostic_settings
        if settings is None:
            return Verdict(Status.UNKNOWN, "diagnostic settings were not read")
        workspace = ctx.params.get("workspaceId")
        if not isinstance(workspace, str) or not workspace:
            return manual(
                "no Log Analytics workspace is configured, so log delivery cannot be checked",
                "Configure the workspace: WARDEN_LOG_ANALYTICS_WORKSPACE_RESOURCE_ID or the "
                "diagnostic-logs parameter workspaceId in the baseline.",
            )
        to_workspace = [s for s in settings if same_id(s.workspace_id, workspace)]
        sent: set[str] = set()
        for s in to_workspace:
            sent |= covered(s)
        missing = [c for c in REQUIRED if c.lower() not in sent]
        if not missing:
            return Verdict(Status.COMPLIANT, "connection and Entra audit logs are sent to the workspace")
        reason = f"not sent to the workspace: {_names(missing)}"
        before = {s.name: s.workspace_id for s in settings}
        conflicts = [s.name for s in to_workspace if s.name.lower() != SETTING_NAME and covered(s)]
        if conflicts:
            return not_created(
                reason,
                before,
                f"setting(s) {_names(conflicts)} already send some of these categories to the workspace and "
                "ARM refuses a duplicate sink: add the missing categories to that setting.",
            )
        blocker = sink_blocker(settings, snapshot.diagnostic_categories, workspace, REQUIRED, "cache")
        if blocker is not None:
            return not_created(reason, before, blocker)
        return Verdict(
            Status.NON_COMPLIANT,
            reason,
            before=before,
            after={SETTING_NAME: workspace},
            remediation=CreateDiagnosticSetting(name=SETTING_NAME, workspace_id=workspace, categories=REQUIRED),
        )


RULE = DiagnosticLogsRule()
