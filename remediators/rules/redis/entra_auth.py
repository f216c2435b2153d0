"""entra-auth: Microsoft Entra ID authentication is enabled on an Azure Cache for Redis.

ARM stores every `redisConfiguration` value as a string, so "true", "True" and "TRUE" all mean on (PSRule
AZR-000427 compares with `equals 'True'`, which is case-insensitive in PSRule). Key names are matched
case-insensitively too, so a differently cased key cannot hide a setting.

Turning Entra on reboots the nodes (it can take up to 30 minutes), so the fix is opt-in per scope and only
inside a maintenance window. It is never applied to Basic caches: a Basic cache has a single node, so the
reboot is an outage and its data is lost.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ...models import CacheSnapshot, Effect, PropertyFix, Severity, Status
from ...resource_ids import CacheKind
from ..base import RuleContext, RuleMetadata, Verdict
from ..common import consent_blockers, gated_fix
from ..frameworks import IDENTITY

RULE_ID = "entra-auth"
KEY = "aad-enabled"

METADATA = RuleMetadata(
    id=RULE_ID,
    frameworks=IDENTITY,
    title="Microsoft Entra ID authentication is enabled",
    severity=Severity.MEDIUM,
    rationale=(
        "Entra ID tokens are short-lived, per identity and revocable, unlike the two shared access keys; "
        "MCSB IM-1 asks for centralised identity. It is also the prerequisite for disabling access keys."
    ),
    resource_types=(CacheKind.REDIS,),
    default_effect=Effect.AUDIT,
    remediation_kind="patch",
    remediation=(
        'Opt-in per scope, inside a maintenance window, never on Basic: PATCH properties.redisConfiguration '
        '= {"aad-enabled": "true"} (only that key; ARM merges redisConfiguration).'
    ),
    what_could_break=(
        "The nodes reboot (up to 30 minutes): connections drop and a cache without replicas loses its data. "
        "Key-based clients keep working until access keys are disabled."
    ),
    psrule=("Azure.Redis.EntraID", "AZR-000427"),
    pitfalls=(
        "redisConfiguration values are strings: compare 'true' case-insensitively, never as a boolean.",
        "Enabling Entra reboots the nodes and can take up to 30 minutes.",
        "Entra authentication needs TLS connections; not supported on the Enterprise/Enterprise Flash tiers.",
        "No Azure Policy built-in audits this setting.",
    ),
    disruptive=True,
)


def config_value(snapshot: CacheSnapshot, key: str) -> Any:
    """A `redisConfiguration` entry, matching the key case-insensitively; None when absent."""
    cfg = snapshot.properties.get("redisConfiguration")
    if not isinstance(cfg, Mapping):
        return None
    wanted = key.lower()
    for k, v in cfg.items():
        if isinstance(k, str) and k.lower() == wanted:
            return v
    return None


def is_true(value: Any) -> bool:
    """ARM's string booleans; a JSON true (seen in hand-written bodies) means the same."""
    return value is True or (isinstance(value, str) and value.lower() == "true")


def entra_enabled(snapshot: CacheSnapshot) -> bool:
    return is_true(config_value(snapshot, KEY))


def is_basic(snapshot: CacheSnapshot) -> bool:
    return isinstance(snapshot.sku_name, str) and snapshot.sku_name.lower() == "basic"


class EntraAuthRule:
    metadata = METADATA

    def evaluate(self, snapshot: CacheSnapshot, ctx: RuleContext) -> Verdict:
        if snapshot.cache_id.kind is not CacheKind.REDIS:
            return Verdict(Status.NOT_APPLICABLE, "Azure Managed Redis is covered by a later rule set")
        value = config_value(snapshot, KEY)
        if is_true(value):
            return Verdict(Status.COMPLIANT, "Entra ID authentication is enabled", before=value)
        shown = "absent" if value is None else repr(value)
        reason = f"redisConfiguration['{KEY}'] is {shown}: only access keys authenticate clients"
        missing = []
        if is_basic(snapshot):
            missing.append("the cache is Basic (single node): enabling Entra reboots it and loses its data")
        missing += consent_blockers(RULE_ID, ctx, " (the nodes reboot)")
        return gated_fix(
            reason,
            before=value,
            after="true",
            blockers=missing,
            refusal="Not enabling Entra ID automatically: ",
            fix=PropertyFix({"redisConfiguration": {KEY: "true"}}),
        )


RULE = EntraAuthRule()
