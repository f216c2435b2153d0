"""amr-cmk: an Azure Managed Redis cluster encrypts its disks with a customer-managed key.

Never laxer than Azure Policy 09aa11bb (RedisCacheEnterprise_CMKEnabled_Audit), which flags a cluster when
`properties.encryption.customerManagedKeyEncryption` does not exist. We are stricter: that object may be
present but empty (the spec: "Set this to an empty object to use Microsoft-managed key encryption"), so only a
non-empty `keyEncryptionKeyUrl` counts as a customer-managed key. Detect only: a fix needs a Key Vault key, a
user-assigned identity with access to it and a decision about key ownership that no remediation may take.
"""

from __future__ import annotations

from collections.abc import Mapping

from ...models import CacheSnapshot, Effect, ManualFix, Severity, Status
from ...resource_ids import CacheKind
from ..base import RuleContext, RuleMetadata, Verdict
from ..frameworks import AT_REST_KEYS

RULE_ID = "amr-cmk"

METADATA = RuleMetadata(
    id=RULE_ID,
    frameworks=AT_REST_KEYS,
    title="Azure Managed Redis disks are encrypted with a customer-managed key",
    severity=Severity.LOW,
    rationale=(
        "Customer-managed keys let the organisation revoke access to data at rest and rotate keys on its own "
        "schedule, which some regulators and contracts require (MCSB DP-5)."
    ),
    resource_types=(CacheKind.REDIS_ENTERPRISE,),
    default_effect=Effect.AUDIT,
    remediation_kind="manual",
    remediation=(
        "Manual: create a Key Vault key and a user-assigned identity with access to it, then set "
        "properties.encryption.customerManagedKeyEncryption (keyEncryptionKeyUrl, keyEncryptionKeyIdentity)."
    ),
    what_could_break="Nothing automatically: the rule only reports.",
    azure_policy=("09aa11bb-87ec-409f-bf0b-49b7c1561a87",),
    pitfalls=(
        "An empty customerManagedKeyEncryption object means Microsoft-managed keys; Azure Policy 09aa11bb "
        "('exists false') passes it, this rule does not.",
        "Only userAssignedIdentity is supported as the key identity in api 2025-07-01.",
        "Losing access to the key makes the cache's data unreadable: keep Key Vault purge protection on.",
    ),
)


class AmrCmkRule:
    metadata = METADATA

    def evaluate(self, snapshot: CacheSnapshot, ctx: RuleContext) -> Verdict:
        encryption = snapshot.properties.get("encryption")
        cmk = encryption.get("customerManagedKeyEncryption") if isinstance(encryption, Mapping) else None
        url = cmk.get("keyEncryptionKeyUrl") if isinstance(cmk, Mapping) else None
        if isinstance(url, str) and url.strip():
            return Verdict(Status.COMPLIANT, "disks are encrypted with a customer-managed key", before=url)
        shown = "absent" if cmk is None else "without a keyEncryptionKeyUrl"
        return Verdict(
            Status.NON_COMPLIANT,
            f"customerManagedKeyEncryption is {shown}: Microsoft-managed keys encrypt the disks",
            before=cmk,
            remediation=ManualFix(
                "Configure a customer-managed key (Key Vault key + user-assigned identity) on the cluster."
            ),
        )


RULE = AmrCmkRule()
