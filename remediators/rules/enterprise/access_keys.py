"""amr-access-keys: Azure Managed Redis databases refuse access-key authentication.

The database property `accessKeysAuthentication` (`Enabled`/`Disabled`; the create default is Disabled in api
2025-07-01). An absent value is non-compliant: databases created through older API versions do not report it
and accepted keys, so absence cannot be read as Disabled (the same stance as access-keys on Azure Cache for
Redis).

Entra first: disabling keys terminates every connection and locks out every client that has not moved to
Microsoft Entra ID. On Azure Managed Redis an Entra identity gets data access through an access policy
assignment on the database, so the fix is only planned when the database has at least one assignment (read
by the gateway; not read = no evidence), the scope opted in, and we are inside its maintenance window.
Otherwise the finding carries a manual action that says what is missing. Audit by default.
"""

from __future__ import annotations

from collections.abc import Mapping

from ...models import CacheSnapshot, DatabaseFix, Effect, Severity, Status
from ...resource_ids import CacheKind
from ..base import RuleContext, RuleMetadata, Verdict
from ..common import consent_blockers, gated_fix
from ..frameworks import IDENTITY
from .common import databases, same_enum

RULE_ID = "amr-access-keys"

METADATA = RuleMetadata(
    id=RULE_ID,
    frameworks=IDENTITY,
    title="Azure Managed Redis databases do not accept access keys",
    severity=Severity.MEDIUM,
    rationale=(
        "Access keys are shared secrets with full data-plane rights that never expire on their own; with "
        "them disabled, Microsoft Entra ID is the only way in (MCSB IM-1)."
    ),
    resource_types=(CacheKind.REDIS_ENTERPRISE,),
    default_effect=Effect.AUDIT,
    remediation_kind="patch",
    remediation=(
        "Opt-in per scope, inside a maintenance window, only when the database has an Entra access policy "
        'assignment: PATCH the database properties.accessKeysAuthentication = "Disabled".'
    ),
    what_could_break=(
        "Every existing connection is terminated, and every client still using an access key is locked out "
        "until it authenticates with Microsoft Entra ID."
    ),
    pitfalls=(
        "No Azure Policy built-in, PSRule or Checkov rule checks accessKeysAuthentication.",
        "Give the applications' identities access policy assignments first; disabling keys drops every "
        "connection.",
        "An absent value (databases created through older API versions) is treated as Enabled.",
    ),
    disruptive=True,
    needs=frozenset({"access_policy_assignments"}),  # type: ignore[arg-type]  # an input this issue adds
)


def _assignment_database(item: Mapping[str, object]) -> str:
    """`.../databases/{db}/accessPolicyAssignments/{name}` -> db (lower-cased)."""
    parts = str(item.get("id") or "").split("/")
    lowered = [p.lower() for p in parts]
    if "databases" in lowered:
        i = lowered.index("databases")
        if i + 1 < len(parts):
            return parts[i + 1].lower()
    return ""


class AmrAccessKeysRule:
    metadata = METADATA

    def evaluate(self, snapshot: CacheSnapshot, ctx: RuleContext) -> Verdict:
        dbs = databases(snapshot)
        if dbs is None:
            return Verdict(Status.UNKNOWN, "the cluster's databases were not read")
        if not dbs:
            return Verdict(Status.NOT_APPLICABLE, "the cluster has no database")
        before = {name: props.get("accessKeysAuthentication") for name, props in dbs}
        enabled = [name for name, props in dbs if not same_enum(props.get("accessKeysAuthentication"), "Disabled")]
        if not enabled:
            return Verdict(Status.COMPLIANT, "access keys are disabled on every database", before=before)
        reason = "access-key authentication is on (or not reported) for database(s) " + ", ".join(enabled)
        after = dict.fromkeys(enabled, "Disabled")
        return gated_fix(
            reason, before=before, after=after, blockers=self._blockers(snapshot, ctx, enabled),
            refusal="Not disabling access keys automatically: ",
            fix=DatabaseFix({name: {"accessKeysAuthentication": "Disabled"} for name in enabled}),
        )

    @staticmethod
    def _blockers(snapshot: CacheSnapshot, ctx: RuleContext, enabled: list[str]) -> list[str]:
        missing = []
        assignments = snapshot.access_policy_assignments
        if assignments is None:
            missing.append("the databases' access policy assignments were not read, so Entra access is unproven")
        else:
            with_entra = {_assignment_database(a) for a in assignments if isinstance(a, Mapping)}
            without = [n for n in enabled if n.lower() not in with_entra]
            if without:
                missing.append(
                    "no Entra access policy assignment on database(s) " + ", ".join(without)
                    + ": give the applications' identities access first"
                )
        return missing + consent_blockers(RULE_ID, ctx, " (every connection drops)")


RULE = AmrAccessKeysRule()

