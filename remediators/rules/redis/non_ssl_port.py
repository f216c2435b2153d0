"""non-ssl-port: the plaintext port (6379 / 130xx) of an Azure Cache for Redis must be closed.

Matches Azure Policy 22bee202 (flags `enableNonSslPort == true`): an absent value means the port is closed
(REST default false), so absent is compliant here too, and PSRule AZR-000163 agrees in effect.
"""

from __future__ import annotations

from ...models import CacheSnapshot, Effect, PropertyFix, Severity, Status
from ...resource_ids import CacheKind
from ..base import RuleContext, RuleMetadata, Verdict
from ..frameworks import IN_TRANSIT

METADATA = RuleMetadata(
    id="non-ssl-port",
    frameworks=IN_TRANSIT,
    title="Non-TLS port (6379) is disabled",
    severity=Severity.HIGH,
    rationale=(
        "The non-TLS port carries the access key and all data in clear text; MCSB DP-3 requires encryption "
        "in transit."
    ),
    resource_types=(CacheKind.REDIS,),
    default_effect=Effect.REMEDIATE,
    remediation_kind="patch",
    remediation='PATCH properties.enableNonSslPort = false (dict body holding only that field).',
    what_could_break=(
        "Clients still connecting in plaintext on 6379 (or 130xx on clustered caches) lose their connection; "
        "the previous value is recorded in the audit trail and an exemption can keep the port open."
    ),
    azure_policy=("22bee202-a82f-4305-9a2a-6d7f44d4dedb", "766f5de3-c6c0-4327-9f4d-042ab8ae846c"),
    psrule=("Azure.Redis.NonSslPort", "AZR-000163"),
    checkov=("CKV_AZURE_91",),
    pitfalls=(
        "CKV_AZURE_91 checks the azurerm v3 attribute enable_non_ssl_port; v4 renamed it to "
        "non_ssl_port_enabled, so Terraform v4 code is not checked by Checkov.",
        "If the Modify policy 766f5de3 is assigned, Azure Policy writes the same field: harmless, "
        "same value.",
        "Azure Managed Redis has no non-TLS port setting; its plaintext option is databases clientProtocol.",
    ),
)


class NonSslPortRule:
    metadata = METADATA

    def evaluate(self, snapshot: CacheSnapshot, ctx: RuleContext) -> Verdict:
        if snapshot.cache_id.kind is not CacheKind.REDIS:
            return Verdict(Status.NOT_APPLICABLE, "Azure Managed Redis has no non-TLS port property")
        value = snapshot.properties.get("enableNonSslPort")
        if value is True:
            return Verdict(
                Status.NON_COMPLIANT,
                "enableNonSslPort is true: the plaintext port is open",
                before=True,
                after=False,
                remediation=PropertyFix({"enableNonSslPort": False}),
            )
        if value is None or value is False:
            return Verdict(Status.COMPLIANT, "non-TLS port is disabled", before=value)
        # ARM returns a JSON boolean; anything else means we cannot trust our reading of it.
        return Verdict(Status.UNKNOWN, f"enableNonSslPort has an unexpected value {value!r}", before=value)


RULE = NonSslPortRule()
