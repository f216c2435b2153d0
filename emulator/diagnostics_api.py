"""Microsoft.Insights diagnosticSettings (api-version 2021-05-01-preview) on a cache, and the categories
the cache offers.

Azure Monitor answers errors without ARM's `error` envelope (`{"code", "message"}`), and refuses a second
setting that sends a category to a sink another setting already uses for that category: both are
reproduced because the warden must treat that refusal as "blocked", not retry it.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from . import errors
from .calls import Call, Reply, WriteEvent
from .errors import ArmHttpError
from .redis_api import RedisApi
from .spec import Spec, parse_json
from .store import CacheState, setting_resource

SINK_FIELDS = ("workspaceId", "storageAccountId", "eventHubAuthorizationRuleId", "marketplacePartnerId")


def _insights_error(status: int, code: str, message: str) -> ArmHttpError:
    return ArmHttpError(status, code, message, wrapped=False)


def _sinks(props: Mapping[str, Any]) -> dict[str, str]:
    """lower-cased sink id -> the id as written."""
    return {str(props[f]).lower(): str(props[f]) for f in SINK_FIELDS if props.get(f)}


def _covered(props: Mapping[str, Any], categories: list[dict[str, Any]]) -> set[str]:
    """Concrete categories a setting enables, with category groups expanded."""
    names: set[str] = set()
    for log in props.get("logs", ()):
        if not log.get("enabled"):
            continue
        if log.get("category"):
            names.add(log["category"])
        elif log.get("categoryGroup"):
            group = log["categoryGroup"].lower()
            names |= {
                c["name"]
                for c in categories
                if c["categoryType"] == "Logs" and group in (g.lower() for g in c["categoryGroups"])
            }
    for metric in props.get("metrics", ()):
        if metric.get("enabled") and metric.get("category"):
            names.add(metric["category"])
    return names


@dataclass
class DiagnosticsApi:
    redis: RedisApi
    spec: Spec

    def _cache(self, sub: str, rg: str, name: str, method: str, resource: str = "diagnosticSettings") -> CacheState:
        return self.redis.cache(sub, rg, name, method=method, resource=resource)

    def list(self, call: Call, sub: str, rg: str, name: str) -> Reply:
        with self.redis.store.lock:
            state = self._cache(sub, rg, name, "GET")
            items = [copy.deepcopy(s) for s in state.settings.values()]
        return Reply(200, {"value": sorted(items, key=lambda s: s["name"].lower())})

    def get(self, call: Call, sub: str, rg: str, name: str, setting: str) -> Reply:
        with self.redis.store.lock:
            state = self._cache(sub, rg, name, "GET")
            item = state.settings.get(setting.lower())
            if item is None:
                raise _insights_error(404, "ResourceNotFound", f"The diagnostic setting '{setting}' doesn't exist.")
            return Reply(200, copy.deepcopy(item))

    def put(self, call: Call, sub: str, rg: str, name: str, setting: str) -> Reply:
        resource = self.spec.validate("DiagnosticSettingsResource", parse_json(call.body))
        props = resource.get("properties", {})
        with self.redis.store.lock:
            state = self._cache(sub, rg, name, "PUT")
            self._check_categories(props, state.categories)
            self._check_sinks(setting, props, state)
            existing = state.settings.get(setting.lower())
            item = setting_resource(state.id, existing["name"] if existing else setting, props)
            state.settings[setting.lower()] = item
            reply = copy.deepcopy(item)
        event = WriteEvent(call.path, "Microsoft.Insights/diagnosticSettings/write", delete=False)
        return Reply(200, reply, event=event)

    def delete(self, call: Call, sub: str, rg: str, name: str, setting: str) -> Reply:
        with self.redis.store.lock:
            state = self._cache(sub, rg, name, "DELETE")
            existed = state.settings.pop(setting.lower(), None)
        if existed is None:
            return Reply(204)
        return Reply(200, event=WriteEvent(call.path, "Microsoft.Insights/diagnosticSettings/delete", delete=True))

    def categories(self, call: Call, sub: str, rg: str, name: str) -> Reply:
        with self.redis.store.lock:
            state = self._cache(sub, rg, name, "GET", resource="diagnosticCategories")
            items = [
                {
                    "id": f"{state.id}/providers/microsoft.insights/diagnosticSettingsCategories/{c['name']}",
                    "type": "microsoft.insights/diagnosticSettingsCategories",
                    "name": c["name"],
                    "properties": {"categoryType": c["categoryType"], "categoryGroups": list(c["categoryGroups"])},
                }
                for c in state.categories
            ]
        return Reply(200, {"value": items})

    @staticmethod
    def _check_categories(props: Mapping[str, Any], categories: list[dict[str, Any]]) -> None:
        logs = {c["name"].lower() for c in categories if c["categoryType"] == "Logs"}
        metrics = {c["name"].lower() for c in categories if c["categoryType"] == "Metrics"}
        groups = {g.lower() for c in categories for g in c["categoryGroups"]}
        for log in props.get("logs", ()):
            if log.get("category") and log["category"].lower() not in logs:
                raise _insights_error(400, "BadRequest", f"Category '{log['category']}' is not supported.")
            if log.get("categoryGroup") and log["categoryGroup"].lower() not in groups:
                raise _insights_error(400, "BadRequest", f"Category group '{log['categoryGroup']}' is not supported.")
            if not log.get("category") and not log.get("categoryGroup"):
                raise _insights_error(400, "BadRequest", "Each log setting needs a category or a categoryGroup.")
        for metric in props.get("metrics", ()):
            if metric.get("category") and metric["category"].lower() not in metrics:
                raise _insights_error(400, "BadRequest", f"Category '{metric['category']}' is not supported.")

    @staticmethod
    def _check_sinks(name: str, props: Mapping[str, Any], state: CacheState) -> None:
        mine = _sinks(props)
        if not mine:
            return
        covered = _covered(props, state.categories)
        for other in state.settings.values():
            if other["name"].lower() == name.lower():
                continue
            shared = sorted(set(mine) & set(_sinks(other["properties"])))
            overlap = sorted(covered & _covered(other["properties"], state.categories))
            if shared and overlap:
                raise errors.data_sink_conflict(mine[shared[0]], other["name"], overlap[0])
