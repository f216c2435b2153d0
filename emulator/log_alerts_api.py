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


@dataclass
class LogAlertsApi:
    store: Store

    def list_by_subscription(self, call: Call, sub: str) -> Reply:
        prefix = f"/subscriptions/{sub}/".lower()
        with self.store.lock:
            items = [copy.deepcopy(r) for k, r in self.store.scheduled_query_rules.items() if k.startswith(prefix)]
        return Reply(200, {"value": sorted(items, key=lambda r: str(r.get("id", "")).lower())})
