"""public-network-access: an Azure Cache for Redis should be reachable only through private endpoints.

Compliance matches Azure Policy 470baccb / 30b3dfa5 exactly (`publicNetworkAccess notEquals "Disabled"`,
compared case-insensitively as Azure Policy does): an absent value is the REST default `Enabled`, so it is
non-compliant, and any value other than "Disabled" is too.

Remediation is deliberately much narrower than the built-in Modify policy, which closes the public path
without looking for a private one. Disabling public access makes private endpoints the only way in, so we
only PATCH `Disabled` when the scope opted in, we are inside its maintenance window, the cache is not
VNet-injected (`subnetId`), and at least one private endpoint connection is `Approved` *and* that endpoint
has a private DNS zone group (without one, clients keep resolving the public address and fail).

Evidence of the DNS zone group lives on the private endpoint (`Microsoft.Network/privateEndpoints/{pe}/
privateDnsZoneGroups`), not in the cache body. The gateway records it per connection in
`PrivateEndpointConnection.private_dns_zone_groups` (None = not read) when the baseline needs
`private_dns_zone_groups`; unread evidence never counts as present. The other direction (enabling public
access) is never proposed.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ...arm.bodies import private_endpoint_connections
from ...models import CacheSnapshot, Effect, PrivateEndpointConnection, PropertyFix, Severity, Status
from ...resource_ids import CacheKind
from ..base import RuleContext, RuleMetadata, Verdict
from ..common import consent_blockers, gated_fix
from ..frameworks import NETWORK

RULE_ID = "public-network-access"

METADATA = RuleMetadata(
    id=RULE_ID,
    frameworks=NETWORK,
    title="Public network access is disabled",
    severity=Severity.HIGH,
    rationale=(
        "With public network access on, the cache endpoint is reachable from the internet and only the "
        "firewall rules (none = every address) and the access key stand in the way; MCSB NS-2 asks for "
        "private endpoints instead."
    ),
    resource_types=(CacheKind.REDIS,),
    default_effect=Effect.AUDIT,
    remediation_kind="patch",
    remediation=(
        "Opt-in per scope, inside a maintenance window only: PATCH properties.publicNetworkAccess = "
        '"Disabled" when an Approved private endpoint with a private DNS zone group exists and the cache is '
        "not VNet-injected; otherwise a manual action naming what is missing."
    ),
    what_could_break=(
        "Every client that reaches the cache over its public address loses access at once; clients on the "
        "private endpoint keep working only if their DNS resolves the privatelink zone."
    ),
    azure_policy=("470baccb-7e51-4549-8b1a-3e5be069f663", "30b3dfa5-a70d-4c8e-bed6-0083858f663d"),
    psrule=("Azure.Redis.PublicNetworkAccess", "AZR-000165"),
    checkov=("CKV_AZURE_89",),
    pitfalls=(
        "The built-in Modify policy 30b3dfa5 disables public access without checking for a private "
        "endpoint: assigned on its own it can cut a cache off.",
        "An absent publicNetworkAccess means Enabled (REST default) and is non-compliant in every tool.",
        "VNet-injected (subnetId) caches cannot use private endpoints.",
        "A private endpoint without a private DNS zone group leaves clients resolving the public address.",
        "publicNetworkAccess cannot share a PATCH with some other fields (e.g. redisVersion): the planner "
        "splits them.",
    ),
    disruptive=True,
    needs=frozenset({"private_dns_zone_groups"}),
)


def is_disabled(value: Any) -> bool:
    """Azure Policy compares strings case-insensitively, so "disabled" counts as Disabled."""
    return isinstance(value, str) and value.lower() == "disabled"


def connections(snapshot: CacheSnapshot) -> tuple[PrivateEndpointConnection, ...]:
    """The gateway's list when it built one (it may carry DNS evidence), else the inline list."""
    if snapshot.private_endpoint_connections is not None:
        return snapshot.private_endpoint_connections
    return private_endpoint_connections(snapshot.resource)


def approved(conns: Sequence[PrivateEndpointConnection]) -> list[PrivateEndpointConnection]:
    """Connections clients can actually use: Approved, with a private endpoint behind them."""
    return [
        c
        for c in conns
        if isinstance(c.status, str) and c.status.lower() == "approved" and c.private_endpoint_id
    ]


def dns_evidence(approved_conns: Sequence[PrivateEndpointConnection]) -> str:
    """`present` when an approved endpoint has a private DNS zone group, `unread` when none of them was read
    (unread evidence never counts as present), else `absent`."""
    if any(c.private_dns_zone_groups for c in approved_conns):
        return "present"
    if all(c.private_dns_zone_groups is None for c in approved_conns):
        return "unread"
    return "absent"


def _blockers(snapshot: CacheSnapshot, ctx: RuleContext) -> list[str]:
    """Everything that stands between us and a safe PATCH, in words an operator can act on."""
    missing = consent_blockers(RULE_ID, ctx)
    if snapshot.properties.get("subnetId"):
        missing.append("the cache is VNet-injected (subnetId is set), so private endpoints cannot replace it")
    usable = approved(connections(snapshot))
    evidence = dns_evidence(usable)
    if not usable:
        missing.append("no private endpoint connection is Approved: create and approve one first")
    elif evidence != "present":
        if evidence == "unread":
            missing.append(
                "the private DNS zone groups of the approved private endpoints were not read, so the "
                "privatelink DNS record cannot be confirmed"
            )
        else:
            names = ", ".join(sorted(c.private_endpoint_id or c.name for c in usable))
            missing.append(
                f"no approved private endpoint has a private DNS zone group ({names}): add one for "
                "privatelink.redis.cache.windows.net"
            )
    return missing


class PublicNetworkAccessRule:
    metadata = METADATA

    def evaluate(self, snapshot: CacheSnapshot, ctx: RuleContext) -> Verdict:
        if snapshot.cache_id.kind is not CacheKind.REDIS:
            return Verdict(Status.NOT_APPLICABLE, "Azure Managed Redis is covered by a later rule set")
        value = snapshot.properties.get("publicNetworkAccess")
        if is_disabled(value):
            return Verdict(Status.COMPLIANT, "public network access is disabled", before=value)
        shown = "absent (REST default Enabled)" if value is None else repr(value)
        reason = f"publicNetworkAccess is {shown}: the cache is reachable from public networks"
        return gated_fix(
            reason,
            before=value,
            after="Disabled",
            blockers=_blockers(snapshot, ctx),
            refusal="Not disabling public access automatically: ",
            fix=PropertyFix({"publicNetworkAccess": "Disabled"}),
        )


RULE = PublicNetworkAccessRule()
