"""access-keys: access-key authentication is disabled on an Azure Cache for Redis.

Stricter than Azure Policy 3827af20 on purpose: the policy flags only `disableAccessKeyAuthentication ==
false` and lets an absent value pass, but the REST default of an absent value is false (keys work), so we
treat absent as non-compliant (as PSRule AZR-000496 does with `equals true`).

Disabling keys terminates every existing connection (key-based and Entra alike) and locks out every client
that has not moved to Entra ID, so the fix is opt-in per scope, inside a maintenance window only, and only
once Entra authentication is already on. Geo-replicated caches must be unlinked before the setting can
change, so a linked cache (or one whose links were not read) gets a manual action instead.
"""

from __future__ import annotations

from typing import Any

from ...models import CacheSnapshot, Effect, PropertyFix, Severity, Status
from ...resource_ids import CacheKind
from ..base import RuleContext, RuleMetadata, Verdict
from ..common import consent_blockers, gated_fix
from ..frameworks import IDENTITY
from .data_residency import has_geo_replication
from .entra_auth import entra_enabled

RULE_ID = "access-keys"

METADATA = RuleMetadata(
    id=RULE_ID,
    frameworks=IDENTITY,
    title="Access-key authentication is disabled",
    severity=Severity.MEDIUM,
    rationale=(
        "The two access keys are shared secrets with full data-plane rights that never expire on their own; "
        "disabling them leaves Entra ID as the only way in (MCSB IM-1)."
    ),
    resource_types=(CacheKind.REDIS,),
    default_effect=Effect.AUDIT,
    remediation_kind="patch",
    remediation=(
        "Opt-in per scope, inside a maintenance window, only when Entra ID authentication is already on and "
        "the cache is not geo-replicated: PATCH properties.disableAccessKeyAuthentication = true."
    ),
    what_could_break=(
        "Every existing connection is terminated, and every client still using an access key is locked out "
        "until it authenticates with Entra ID."
    ),
    azure_policy=("3827af20-8f80-4b15-8300-6db0873ec901",),
    psrule=("Azure.Redis.LocalAuth", "AZR-000496"),
    pitfalls=(
        "Azure Policy 3827af20 ignores an absent value, but absent means false (keys enabled): we flag it.",
        "Enable Entra ID first; disabling keys terminates all existing connections.",
        "Geo-replicated caches must be unlinked, changed, then relinked.",
    ),
    disruptive=True,
    needs=frozenset({"linked_servers"}),
)


def keys_disabled(value: Any) -> bool:
    return value is True or (isinstance(value, str) and value.lower() == "true")


class AccessKeysRule:
    metadata = METADATA

    def evaluate(self, snapshot: CacheSnapshot, ctx: RuleContext) -> Verdict:
        if snapshot.cache_id.kind is not CacheKind.REDIS:
            return Verdict(Status.NOT_APPLICABLE, "Azure Managed Redis is covered by a later rule set")
        value = snapshot.properties.get("disableAccessKeyAuthentication")
        if keys_disabled(value):
            return Verdict(Status.COMPLIANT, "access-key authentication is disabled", before=value)
        shown = "absent (REST default false)" if value is None else repr(value)
        reason = f"disableAccessKeyAuthentication is {shown}: the shared access keys authenticate clients"
        missing = []
        if not entra_enabled(snapshot):
            missing.append("Entra ID authentication is not enabled yet (enable entra-auth first)")
        geo = has_geo_replication(snapshot)
        if geo is None:
            missing.append("geo-replication links were not read")
        elif geo:
            missing.append("the cache is geo-replicated: unlink, change, then relink")
        missing += consent_blockers(RULE_ID, ctx, " (every connection drops)")
        return gated_fix(
            reason,
            before=value,
            after=True,
            blockers=missing,
            refusal="Not disabling access keys automatically: ",
            fix=PropertyFix({"disableAccessKeyAuthentication": True}),
        )


RULE = AccessKeysRule()
