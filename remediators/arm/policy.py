"""Azure Policy compliance of one cache, read with `azure-mgmt-policyinsights`, for the azure-policy rule.

`POST {cacheId}/providers/Microsoft.PolicyInsights/policyStates/latest/queryResults` (api 2019-10-01,
learn.microsoft.com/rest/api/policy/policy-states/list-query-results-for-resource): one row per policy
assignment that evaluated the cache, with `complianceState` (Compliant / NonCompliant / ...). Only the ids
and the state are kept. A refusal (no permission at that scope) leaves the input unread (None), so the rule
says `unknown` rather than guessing.
"""

from __future__ import annotations

import logging

from ..models import PolicyState
from ..resource_ids import ResourceId
from .errors import ArmError
from .pipeline import ArmSession

log = logging.getLogger(__name__)

# The POST is authorised as this action (ARM: `<namespace>/<types>/action` for a POST).
ACTIONS = frozenset({"Microsoft.PolicyInsights/policyStates/queryResults/action"})
MAX_STATES = 100


class PolicyStates:
    def __init__(self, session: ArmSession) -> None:
        self.session = session

    def states(self, cache: ResourceId) -> tuple[PolicyState, ...] | None:
        # Imported on first use, not at import time: only the azure-policy rule reads it (cold start, issue 13).
        from azure.mgmt.policyinsights import PolicyInsightsClient
        from azure.mgmt.policyinsights.models import QueryOptions

        s = self.session
        client = s.client(PolicyInsightsClient, cache.subscription_id)
        try:
            rows = s.call(lambda: list(client.policy_states.list_query_results_for_resource(
                "latest", cache.arm_id, QueryOptions(top=MAX_STATES), **s.timeouts)))
        except ArmError as exc:
            if exc.kind in ("blocked", "invalid", "gone"):
                log.warning("policy states of %s not readable: %s", cache.arm_id, exc)
                return None
            raise
        return tuple(
            PolicyState(
                assignment_id=str(r.policy_assignment_id or ""),
                definition_id=str(r.policy_definition_id or ""),
                compliance_state=str(r.compliance_state or ("Compliant" if r.is_compliant else "Unknown")),
            )
            for r in rows[:MAX_STATES]
        )
