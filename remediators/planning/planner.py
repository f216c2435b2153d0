"""Findings -> an ordered, safe, minimal list of ARM steps (design section 4).

The planner is pure: it sees the findings and the snapshot they were computed from, and returns a `Plan`.
Its output is checked by `check_plan_safety` before it is returned, and the engine checks it again, so a
planning bug can stop a remediation but can never widen access.

Order of a plan: property PATCHes (as few as ARM accepts in one request, split where it refuses a
combination), then firewall PUTs, then firewall DELETEs, then diagnostic settings, then metric alerts, then
manual actions.
"""

from __future__ import annotations

from collections.abc import Sequence

from ..models import (
    CacheSnapshot,
    CreateDiagnosticSetting,
    CreateMetricAlerts,
    DatabaseFix,
    DeleteFirewallRule,
    Effect,
    Finding,
    FirewallFix,
    ManualAction,
    ManualFix,
    Plan,
    PropertyFix,
    PutDiagnosticSetting,
    PutFirewallRule,
    PutMetricAlert,
    Status,
    Step,
)
from ..resource_ids import CacheKind
from .enterprise import plan_database_patches
from .patches import plan_patches
from .redis import metric_alert_steps, plan_firewall
from .safety import check_plan_safety, public_access_on

# ---------------------------------------------------------------------------------------------- plan


def plan(findings: Sequence[Finding], snapshot: CacheSnapshot) -> Plan:
    """Turn the actionable findings into ordered steps; raises UnsafePlan if the result fails the check
    (a planner bug): better to write nothing than something unsafe."""
    property_fixes: list[tuple[str, PropertyFix]] = []
    database_fixes: list[tuple[str, DatabaseFix]] = []
    firewall_fixes: list[tuple[str, FirewallFix]] = []
    diagnostics: list[PutDiagnosticSetting] = []
    alerts: list[PutMetricAlert] = []
    manual: list[ManualAction] = []
    notes: list[str] = []

    for f in findings:
        if f.status is not Status.NON_COMPLIANT or f.effect is not Effect.REMEDIATE:
            continue
        rem = f.remediation
        if isinstance(rem, PropertyFix):
            property_fixes.append((f.rule, rem))
        elif isinstance(rem, DatabaseFix):
            database_fixes.append((f.rule, rem))
        elif isinstance(rem, FirewallFix):
            firewall_fixes.append((f.rule, rem))
        elif isinstance(rem, CreateMetricAlerts):
            alerts.extend(metric_alert_steps(f.rule, rem, snapshot))
        elif isinstance(rem, CreateDiagnosticSetting):
            diagnostics.append(
                PutDiagnosticSetting(f.rule, rem.name, rem.workspace_id, rem.categories, rem.category_groups)
            )
        elif isinstance(rem, ManualFix):
            manual.append(ManualAction(f.rule, rem.reason))
        else:
            what = f"the planner cannot apply {type(rem).__name__}" if rem is not None else "no remediation given"
            manual.append(ManualAction(f.rule, f"{what}; fix by hand"))

    patches, patch_manual, patch_notes = plan_patches(property_fixes, snapshot)
    notes.extend(patch_notes)
    # Azure Managed Redis: database PATCHes after the cluster's (the cluster PATCH must finish first).
    db_patches, db_manual, db_notes = plan_database_patches(database_fixes, snapshot)
    patches.extend(db_patches)
    patch_manual.extend(db_manual)
    notes.extend(db_notes)

    firewall: list[Step] = []
    if firewall_fixes:
        rule_id, fix = firewall_fixes[0]
        for other, _ in firewall_fixes[1:]:
            manual.append(ManualAction(other, "only one firewall remediation is planned per pass"))
        if snapshot.cache_id.kind is not CacheKind.REDIS:
            notes.append("firewall fix ignored: Azure Managed Redis has no firewall rules")
        elif not public_access_on(snapshot):
            notes.append("firewall fix ignored: public network access is Disabled")
        else:
            steps, fw_notes = plan_firewall(rule_id, fix, snapshot)
            notes.extend(fw_notes)
            firewall.extend(s for s in steps if not isinstance(s, ManualAction))
            manual.extend(s for s in steps if isinstance(s, ManualAction))

    puts = [s for s in firewall if isinstance(s, PutFirewallRule)]
    deletes = [s for s in firewall if isinstance(s, DeleteFirewallRule)]
    result = Plan(
        steps=(*patches, *puts, *deletes, *diagnostics, *alerts, *patch_manual, *manual),
        notes=tuple(notes),
    )
    check_plan_safety(snapshot, result)
    return result


