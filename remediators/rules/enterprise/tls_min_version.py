"""amr-tls-min-version: an Azure Managed Redis cluster accepts TLS 1.2 or newer only.

The cluster property `minimumTlsVersion` (enum 1.0, 1.1, 1.2 in api 2025-07-01). The spec says 1.0 and 1.1
"are now completely obsolete -- you cannot use them" and are listed only for old API versions, so an absent
value is compliant (the service enforces 1.2+), while an explicit old value, which old clusters can still
report, is patched to "1.2" on the cluster. A newer version ("1.3", which the spec says may be added) is
compliant and never lowered; a value that is not a version string is `unknown`, never overwritten.
PSRule Azure.RedisEnterprise.MinTLS (AZR-000301) agrees: it uses `hasDefault '1.2'`.
"""

from __future__ import annotations

from ...models import CacheSnapshot, Effect, Severity
from ...resource_ids import CacheKind
from ..base import RuleContext, RuleMetadata, Verdict
from ..frameworks import IN_TRANSIT
from ..redis.tls_min_version import judge_min_tls

RULE_ID = "amr-tls-min-version"

METADATA = RuleMetadata(
    id=RULE_ID,
    frameworks=IN_TRANSIT,
    title="Azure Managed Redis minimum TLS version is 1.2",
    severity=Severity.HIGH,
    rationale=(
        "TLS 1.0 and 1.1 have known weaknesses; Azure Managed Redis supports only TLS 1.2+, and a cluster "
        "that still reports an older minimum was configured through an old API version (MCSB DP-3)."
    ),
    resource_types=(CacheKind.REDIS_ENTERPRISE,),
    default_effect=Effect.REMEDIATE,
    remediation_kind="patch",
    remediation='PATCH the cluster: properties.minimumTlsVersion = "1.2" (dict body holding only that field).',
    what_could_break=(
        "Nothing that works today: the service already refuses TLS below 1.2, so the PATCH only makes the "
        "setting say so."
    ),
    psrule=("Azure.RedisEnterprise.MinTLS", "AZR-000301"),
    pitfalls=(
        "No Azure Policy built-in audits the TLS version of a cluster.",
        "An absent value is compliant: the 2025-07-01 spec calls TLS 1.0/1.1 completely obsolete.",
    ),
)


class AmrTlsMinVersionRule:
    metadata = METADATA

    def evaluate(self, snapshot: CacheSnapshot, ctx: RuleContext) -> Verdict:
        return judge_min_tls(snapshot.properties.get("minimumTlsVersion"),
                             absent="absent: Azure Managed Redis accepts only TLS 1.2+")


RULE = AmrTlsMinVersionRule()
