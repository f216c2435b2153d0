"""amr-public-network-access: an Azure Managed Redis cluster is reachable only through private endpoints.

The cluster property `publicNetworkAccess` (api 2025-07-01+): `Disabled` is compliant. `Enabled` is not, and
neither is null/absent: clusters created through an older API version report null ("cannot be set" back to
null once set, the spec says), and such a cluster keeps its public endpoint, so null is not Disabled.

Remediation mirrors public-network-access on Azure Cache for Redis, and is audit by default: PATCH the cluster
to `Disabled` only when the scope opted in, we are inside its maintenance window, and at least one private
endpoint connection is `Approved` with a private DNS zone group on its endpoint (clients must resolve
`privatelink.redis.azure.net`). Unread DNS evidence never counts as present. Never the other direction.
"""

from __future__ import annotations

from ...models import CacheSnapshot, Effect, PropertyFix, Severity, Status
from ...resource_ids import CacheKind
from ..base import RuleContext, RuleMetadata, Verdict
from ..common import consent_blockers, gated_fix
from ..frameworks import NETWORK
from ..redis.public_network_access import approved, connections, dns_evidence, is_disabled

RULE_ID = "amr-public-network-access"

METADATA = RuleMetadata(
    id=RULE_ID,
    frameworks=NETWORK,
    title="Azure Managed Redis public network access is disabled",
    severity=Severity.HIGH,
    rationale=(
        "With public network access on, the cluster endpoint is reachable from the internet and only the "
        "access key or Entra token stands in the way (Azure Managed Redis has no firewall rules); MCSB NS-2 "
        "asks for private endpoints instead."
    ),
    resource_types=(CacheKind.REDIS_ENTERPRISE,),
    default_effect=Effect.AUDIT,
    remediation_kind="patch",
    remediation=(
        "Opt-in per scope, inside a maintenance window only: PATCH the cluster properties.publicNetworkAccess "
        '= "Disabled" (api 2025-07-01) when an Approved private endpoint with a private DNS zone group exists; '
        "otherwise a manual action naming what is missing."
    ),
    what_could_break=(
        "Every client reaching the cluster over its public address loses access at once; clients on the "
        "private endpoint keep working only if their DNS resolves privatelink.redis.azure.net."
    ),
    pitfalls=(
        "No Azure Policy built-in audits publicNetworkAccess on redisEnterprise (960e650e only audits that a "
        "private endpoint exists).",
        "publicNetworkAccess exists from api 2025-07-01; older clusters report null, which is not Disabled, "
        "and ARM refuses to set it back to null.",
        "Azure Managed Redis has no firewall rules: with public access on, every address can connect.",
        "A private endpoint without a private DNS zone group leaves clients resolving the public address.",
    ),
    disruptive=True,
    needs=frozenset({"private_dns_zone_groups"}),
)


class AmrPublicNetworkAccessRule:
    metadata = METADATA

    def evaluate(self, snapshot: CacheSnapshot, ctx: RuleContext) -> Verdict:
        value = snapshot.properties.get("publicNetworkAccess")
        if is_disabled(value):
            return Verdict(Status.COMPLIANT, "public network access is disabled", before=value)
        shown = "null (cluster created before api 2025-07-01)" if value is None else repr(value)
        reason = f"publicNetworkAccess is {shown}: the cluster is reachable from public networks"
        return gated_fix(
            reason,
            before=value,
            after="Disabled",
            blockers=self._blockers(snapshot, ctx),
            refusal="Not disabling public access automatically: ",
            fix=PropertyFix({"publicNetworkAccess": "Disabled"}),
        )

    @staticmethod
    def _blockers(snapshot: CacheSnapshot, ctx: RuleContext) -> list[str]:
        missing = consent_blockers(RULE_ID, ctx)
        usable = approved(connections(snapshot))
        evidence = dns_evidence(usable)
        if not usable:
            missing.append("no private endpoint connection is Approved: create and approve one first")
        elif evidence != "present":
            if evidence == "unread":
                missing.append("the private DNS zone groups of the approved private endpoints were not read")
            else:
                missing.append("no approved private endpoint has a private DNS zone group for "
                               "privatelink.redis.azure.net")
        return missing


RULE = AmrPublicNetworkAccessRule()
