"""no-auth: the cache must require authentication.

`redisConfiguration["authnotrequired"] = "true"` turns off all authentication: anyone who can reach the
endpoint can read and write every key. ARM stores it as a string, so any casing of "true" counts; an absent
key means authentication is required. There is no safe automatic fix: the clients of such a cache connect
without credentials and would all fail, so the rule only reports (critical).
"""

from __future__ import annotations

from ...models import CacheSnapshot, Effect, ManualFix, Severity, Status
from ...resource_ids import CacheKind
from ..base import RuleContext, RuleMetadata, Verdict
from ..frameworks import IDENTITY
from .entra_auth import config_value, is_true

RULE_ID = "no-auth"
KEY = "authnotrequired"

METADATA = RuleMetadata(
    id=RULE_ID,
    frameworks=IDENTITY,
    title="Authentication is required",
    severity=Severity.CRITICAL,
    rationale=(
        "With authentication off, network reachability is the only control: any host that can open a "
        "connection reads, writes and flushes every key."
    ),
    resource_types=(CacheKind.REDIS,),
    default_effect=Effect.AUDIT,
    remediation_kind="manual",
    remediation=(
        'Manual: give every client an access key or an Entra ID identity, then set redisConfiguration '
        '{"authnotrequired": "false"}.'
    ),
    what_could_break="Nothing automatically: the rule only reports.",
    pitfalls=(
        "The value is a string in redisConfiguration: 'True' and 'TRUE' also disable authentication.",
        "No Azure Policy, PSRule or Checkov rule checks this setting.",
    ),
)


class NoAuthRule:
    metadata = METADATA

    def evaluate(self, snapshot: CacheSnapshot, ctx: RuleContext) -> Verdict:
        if snapshot.cache_id.kind is not CacheKind.REDIS:
            return Verdict(Status.NOT_APPLICABLE, "Azure Managed Redis is covered by a later rule set")
        value = config_value(snapshot, KEY)
        if is_true(value):
            return Verdict(
                Status.NON_COMPLIANT,
                f"redisConfiguration['{KEY}'] is {value!r}: clients connect without any authentication",
                before=value,
                after="false",
                remediation=ManualFix(
                    "Give every client credentials (access key or Entra ID), then set "
                    f"redisConfiguration['{KEY}'] to 'false'."
                ),
            )
        return Verdict(Status.COMPLIANT, "authentication is required", before=value)


RULE = NoAuthRule()
