"""Verdict shapes shared by several rules, so the gating of a disruptive fix reads the same everywhere.

A disruptive remediation (one that drops connections, reboots nodes or cuts clients off) is only planned when
the scope opted in to the rule *and* we are inside one of its maintenance windows; every other missing piece of
evidence is rule-specific. Each rule collects its reasons in its own order (the order is part of the message an
operator reads), and any reason at all turns the fix into a `ManualFix` that lists them.
"""

from __future__ import annotations

from typing import Any

from ..models import ManualFix, Remediation, Status
from .base import RuleContext, Verdict


def consent_blockers(rule_id: str, ctx: RuleContext, window_note: str = "") -> list[str]:
    """The opt-in and maintenance-window reasons; `window_note` says what happens in the window, e.g.
    " (the nodes reboot)", so the operator sees why the window matters for this rule."""
    missing = []
    if not ctx.opted_in:
        missing.append(f"the scope has not opted in ('{rule_id}' is not in optIn)")
    if not ctx.in_maintenance_window:
        missing.append("not inside a maintenance window of the scope" + window_note)
    return missing


def gated_fix(
    reason: str, *, before: Any, after: Any, blockers: list[str], refusal: str, fix: Remediation
) -> Verdict:
    """Non-compliant either way: with `fix` when nothing blocks it, else a manual action naming every blocker
    after `refusal` (e.g. "Not disabling access keys automatically: ")."""
    remediation = ManualFix(refusal + "; ".join(blockers)) if blockers else fix
    return Verdict(Status.NON_COMPLIANT, reason, before=before, after=after, remediation=remediation)


def manual(reason: str, why: str, *, before: Any = None) -> Verdict:
    """Non-compliant with no safe automatic fix: `why` tells the operator what to do instead."""
    return Verdict(Status.NON_COMPLIANT, reason, before=before, remediation=ManualFix(why))
