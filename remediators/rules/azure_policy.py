"""azure-policy: Azure Policy's own compliance verdicts on the cache, beside ours.

The Redis built-ins assigned by infra/modules/redis-policies.bicep (or by the organisation) are a preventive
layer in front of the warden's corrective one; a reviewer wants their state next to our findings in the same
report. In scans the gateway reads the cache's latest policy states (Microsoft.PolicyInsights); this rule
turns them into one finding: non-compliant when any assignment says NonCompliant, compliant when every one
says Compliant (or Exempt), not applicable when no assignment evaluated the cache. Detect only: the warden
fixes the underlying properties through its own rules.
"""

from __future__ import annotations

from ..models import CacheSnapshot, Effect, Severity, Status
from ..resource_ids import CacheKind
from .base import RuleContext, RuleMetadata, Verdict
from .common import manual
from .frameworks import MONITORING

RULE_ID = "azure-policy"
_OK = {"compliant", "exempt"}

METADATA = RuleMetadata(
    id=RULE_ID,
    title="Azure Policy assignments report the cache compliant",
    severity=Severity.MEDIUM,
    rationale=(
        "Microsoft's guidance: use Azure Policy to enforce security configurations. Its verdicts belong beside "
        "the warden's, so a reviewer sees where the preventive and the corrective layer disagree."
    ),
    resource_types=(CacheKind.REDIS, CacheKind.REDIS_ENTERPRISE),
    default_effect=Effect.AUDIT,
    frameworks=MONITORING,
    remediation_kind="manual",
    remediation="Review the non-compliant assignments; the warden's own rules fix the properties they audit.",
    what_could_break="Nothing: detect only (one Policy Insights query per cache in scans).",
    pitfalls=(
        "Policy states lag changes (evaluation runs after a resource change and daily), so a state can be "
        "stale for a while after the warden fixed the property.",
        "Evaluated in scans only.",
    ),
    needs=frozenset({"policy_states"}),
)


class AzurePolicyRule:
    metadata = METADATA

    def evaluate(self, snapshot: CacheSnapshot, ctx: RuleContext) -> Verdict:
        states = snapshot.policy_states
        if states is None and "policy_states" in snapshot.skipped_inputs:
            return Verdict(Status.NOT_APPLICABLE, "evaluated in scans, not on cache events")
        if states is None:
            return Verdict(Status.UNKNOWN, "Azure Policy states were not read")
        if not states:
            return Verdict(Status.NOT_APPLICABLE, "no Azure Policy assignment has evaluated the cache")
        evidence = [{"assignment": s.assignment_id, "definition": s.definition_id, "state": s.compliance_state}
                    for s in states]
        bad = [s for s in states if s.compliance_state.lower() not in _OK]
        if not bad:
            return Verdict(Status.COMPLIANT, f"{len(states)} Azure Policy assignment(s) report compliant",
                           before=evidence)
        names = ", ".join(f"{s.definition_id.rsplit('/', 1)[-1][:8]} ({s.compliance_state})" for s in bad)
        return manual(f"Azure Policy reports: {names}",
                      "Review the assignments Azure Policy reports non-compliant; see the warden's findings "
                      "for the same properties.", before=evidence)


RULE = AzurePolicyRule()
