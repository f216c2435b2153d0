"""Microsoft.Insights/scheduledQueryRules (api-version 2023-12-01, the version infra/ deploys), list by
subscription, read only. Rules come from fleet entries' `scheduledQueryRules` (GET bodies, kept in the
entry's subscription). The shape is the one infra/modules/auth-alerts.bicep deploys (`properties.scopes`,
`enabled`, `criteria.allOf[].query`, `tags`); no recorded response backs it yet, so tests against it prove
our code against our emulator only."""

from __future__ import annotations

import copy
from dataclasses import dataclass

from .calls import Call, Reply
from .store import Store

API_VERSION = "2023-12-01"
POLICY_STATES_API_VERSION = "2019-10-01"  # azure-mgmt-policyinsights 1.0.1


@dataclass
class LogAlertsApi:
    store: Store

    def policy_states(self, call: Call, resource: str) -> Reply:
        """POST {resource}/providers/Microsoft.PolicyInsights/policyStates/latest/queryResults (2019-10-01):
        the fleet entry's `policyStates` rows, in the list shape of the REST reference."""
        with self.store.lock:
            rows = [copy.deepcopy(r) for r in self.store.policy_states.get(resource.lower(), [])]
        context = "https://management.azure.com/providers/Microsoft.PolicyInsights/policyStates/$metadata#latest"
        return Reply(200, {"@odata.context": context, "@odata.count": len(rows), "value": rows})

    def list_by_subscription(self, call: Call, sub: str) -> Reply:
        prefix = f"/subscriptions/{sub}/".lower()
        with self.store.lock:
            items = [copy.deepcopy(r) for k, r in self.store.scheduled_query_rules.items() if k.startswith(prefix)]
        return Reply(200, {"value": sorted(items, key=lambda r: str(r.get("id", "")).lower())})
