"""The baseline document: which rules run with which effect, scoped parameters, opt-ins, windows, exemptions.

`load_baseline` is the only way in: it reads, validates (JSON Schema + semantic checks against the rule
registry) and freezes the document, or raises `BaselineError` naming the bad field. Nothing is applied from
a document that fails anywhere.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from ..rules.base import Rule
from .diff import diff_baselines
from .document import DEFAULT_PATH, SCHEMA_PATH, parse_document, read_source, rule_ids_in
from .errors import BaselineError
from .model import EXEMPTION_TAG, Baseline, exemption_tag_ids
from .windows import MaintenanceWindow


def load_baseline(
    source: str | None,
    *,
    rules: Sequence[Rule] | None = None,
    defaults: Mapping[str, Mapping[str, Any]] | None = None,
    refuse_expired_at: datetime | None = None,
) -> Baseline:
    """Load a baseline from a path, inline JSON (text starting with "{") or, for None, the shipped default.

    `rules` defaults to the registry (`remediators.rules.ALL_RULES`); `defaults` are lowest-precedence rule
    parameters from app settings (see `settings_defaults`). `refuse_expired_at` (the CLI passes now)
    refuses a document holding an exemption already expired then. The Function App does not pass it: an
    exemption that lapses while the app runs simply stops applying (the finding reopens and its record
    notes the expiry), where refusing the whole baseline at the next cold start would stop every cache's
    remediation over one stale approval.
    """
    if rules is None:
        from ..rules import ALL_RULES  # deferred: the registry imports every rule module

        rules = ALL_RULES
    known = rule_ids_in(rules)
    disruptive = frozenset(rid for rid, r in known.items() if r.metadata.disruptive or r.metadata.opt_in_reads)
    doc, _where = read_source(source)
    parsed = parse_document(doc, known, disruptive, now=refuse_expired_at)
    baseline = Baseline(parsed=parsed, rules=tuple(rules))
    return baseline.with_parameter_defaults(defaults) if defaults else baseline


def settings_defaults(
    workspace_id: str | None = None, action_group_id: str | None = None
) -> dict[str, dict[str, Any]]:
    """App settings (WARDEN_LOG_ANALYTICS_WORKSPACE_RESOURCE_ID, WARDEN_ACTION_GROUP_RESOURCE_ID) as the
    rule parameters they stand for; a baseline value for the same parameter wins."""
    out: dict[str, dict[str, Any]] = {}
    if workspace_id:
        out["diagnostic-logs"] = {"workspaceId": workspace_id}
        out["amr-diagnostic-logs"] = {"workspaceId": workspace_id}
        out["auth-alerts"] = {"workspaceId": workspace_id}
    if action_group_id:
        out["metric-alerts"] = {"actionGroupId": action_group_id}
    return out


__all__ = [
    "DEFAULT_PATH",
    "EXEMPTION_TAG",
    "SCHEMA_PATH",
    "Baseline",
    "BaselineError",
    "MaintenanceWindow",
    "diff_baselines",
    "exemption_tag_ids",
    "load_baseline",
    "settings_defaults",
]
