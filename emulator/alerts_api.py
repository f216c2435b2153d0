"""Microsoft.Insights/metricAlerts (api-version 2018-03-01, the version azure-mgmt-monitor 6.0.2 uses):
list by resource group, get, put, delete.

No swagger for this API is vendored, so the request schema below is written from the SDK's own model
metadata for that api-version (`azure.mgmt.monitor.v2018_03_01.models`: `MetricAlertResource` required
location/severity/enabled/scopes/evaluationFrequency/windowSize/criteria, read-only id/name/type/
lastUpdatedTime/isMigrated, the criteria discriminator `odata.type`, `MetricCriteria` required fields and the
`Operator` / `AggregationTypeEnum` enums). Like the rest of the emulator it refuses unknown properties.

Beyond the schema, the checks ARM's alert service makes that the warden's writes could trip over:
- evaluationFrequency / windowSize outside the values the service takes (PT1M..PT1H / PT1M..P1D);
- a single-resource criteria type with more or fewer than one scope, or a scope the emulator does not know;
- a metric the scoped resource type does not emit ("Couldn't find a metric named X. Make sure the name is
  correct.", as quoted in hashicorp/terraform-provider-azurerm#22210 and Azure/azure-powershell#15086).
Azure Monitor answers `{"code", "message"}` without ARM's `error` envelope (the SDK's `ErrorResponse` for
this api-version has just those two fields). Alert rules are not Cache resources, so writes emit no event.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import jsonschema

from .calls import Call, Reply
from .errors import ArmHttpError
from .redis_api import RedisApi
from .spec import parse_json

API_VERSION = "2018-03-01"
SINGLE_RESOURCE = "Microsoft.Azure.Monitor.SingleResourceMultipleMetricCriteria"
EVALUATION_FREQUENCIES = ("PT1M", "PT5M", "PT15M", "PT30M", "PT1H")
WINDOW_SIZES = ("PT1M", "PT5M", "PT15M", "PT30M", "PT1H", "PT6H", "PT12H", "P1D")
# Microsoft.Cache/redis platform metrics (names in the REST API), from Azure Monitor's supported-metrics list
# for the type; compared case-insensitively, as Azure Monitor does.
REDIS_METRICS = frozenset(m.lower() for m in (
    "cachehits", "cachemisses", "cachemissrate", "getcommands", "setcommands", "operationsPerSecond",
    "evictedkeys", "totalkeys", "expiredkeys", "usedmemory", "usedmemorypercentage", "usedmemoryRss",
    "serverLoad", "cacheWrite", "cacheRead", "percentProcessorTime", "cacheLatency", "errors",
    "connectedclients", "connectedclientsusingaadtoken", "totalcommandsprocessed", "allcachehits",
    "allcachemisses", "allgetcommands", "allsetcommands", "alloperationsPerSecond", "allevictedkeys",
    "alltotalkeys", "allexpiredkeys", "allusedmemory", "allusedmemorypercentage", "allusedmemoryRss",
    "allserverLoad", "allcacheWrite", "allcacheRead", "allpercentProcessorTime", "allconnectedclients",
    "alltotalcommandsprocessed", "GeoReplicationHealthy", "GeoReplicationConnectivityLag",
))
READ_ONLY = ("id", "name", "type")
READ_ONLY_PROPERTIES = ("lastUpdatedTime", "isMigrated")

_CRITERION = {
    "type": "object",
    "required": ["criterionType", "name", "metricName", "timeAggregation"],
    "properties": {
        "criterionType": {"enum": ["StaticThresholdCriterion", "DynamicThresholdCriterion"]},
        "name": {"type": "string", "minLength": 1},
        "metricName": {"type": "string", "minLength": 1},
        "metricNamespace": {"type": "string"},
        "timeAggregation": {"enum": ["Average", "Count", "Minimum", "Maximum", "Total"]},
        "operator": {"enum": ["Equals", "GreaterThan", "GreaterThanOrEqual", "LessThan", "LessThanOrEqual",
                              "GreaterOrLessThan"]},
        "threshold": {"type": "number"},
        "dimensions": {"type": "array", "items": {
            "type": "object", "required": ["name", "operator", "values"],
            "properties": {"name": {"type": "string"}, "operator": {"type": "string"},
                           "values": {"type": "array", "items": {"type": "string"}}}}},
        "skipMetricValidation": {"type": "boolean"},
        "alertSensitivity": {"type": "string"},
        "failingPeriods": {"type": "object"},
        "ignoreDataBefore": {"type": "string"},
    },
    "allOf": [
        {"if": {"properties": {"criterionType": {"const": "StaticThresholdCriterion"}}},
         "then": {"required": ["operator", "threshold"]}},
        {"if": {"properties": {"criterionType": {"const": "DynamicThresholdCriterion"}}},
         "then": {"required": ["operator", "alertSensitivity", "failingPeriods"]}},
    ],
}
SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["location", "properties"],
    "additionalProperties": False,
    "properties": {
        "location": {"type": "string", "minLength": 1},
        "tags": {"type": "object", "additionalProperties": {"type": "string"}},
        "properties": {
            "type": "object",
            "required": ["severity", "enabled", "scopes", "evaluationFrequency", "windowSize", "criteria"],
            "additionalProperties": False,
            "properties": {
                "description": {"type": "string"},
                "severity": {"type": "integer", "minimum": 0, "maximum": 4},
                "enabled": {"type": "boolean"},
                "scopes": {"type": "array", "minItems": 1, "items": {"type": "string", "minLength": 1}},
                "evaluationFrequency": {"type": "string"},
                "windowSize": {"type": "string"},
                "targetResourceType": {"type": "string"},
                "targetResourceRegion": {"type": "string"},
                "criteria": {
                    "type": "object",
                    "required": ["odata.type"],
                    "properties": {
                        "odata.type": {"enum": [SINGLE_RESOURCE,
                                                "Microsoft.Azure.Monitor.MultipleResourceMultipleMetricCriteria",
                                                "Microsoft.Azure.Monitor.WebtestLocationAvailabilityCriteria"]},
                        "allOf": {"type": "array", "items": _CRITERION},
                    },
                },
                "autoMitigate": {"type": "boolean"},
                "actions": {"type": "array", "items": {
                    "type": "object", "additionalProperties": False,
                    "properties": {"actionGroupId": {"type": "string"},
                                   "webHookProperties": {"type": "object",
                                                         "additionalProperties": {"type": "string"}}}}},
            },
        },
    },
}
_VALIDATOR = jsonschema.Draft202012Validator(SCHEMA)


def _bad_request(message: str) -> ArmHttpError:
    return ArmHttpError(400, "BadRequest", message, wrapped=False)


def _not_found(name: str) -> ArmHttpError:
    return ArmHttpError(404, "ResourceNotFound", f"The metric alert rule '{name}' was not found.", wrapped=False)


def _validate(body: Any) -> dict[str, Any]:
    """Schema first (read-only fields dropped, as ARM's RPC ignores them), then the service's own checks."""
    if isinstance(body, dict):
        body = {k: v for k, v in body.items() if k not in READ_ONLY}
        if isinstance(body.get("properties"), dict):
            body["properties"] = {k: v for k, v in body["properties"].items() if k not in READ_ONLY_PROPERTIES}
    errors = sorted(_VALIDATOR.iter_errors(body), key=lambda e: list(map(str, e.absolute_path)))
    if errors:
        first = errors[0]
        where = ".".join(str(p) for p in first.absolute_path) or "body"
        raise _bad_request(f"Invalid value for '{where}': {first.message}")
    props = body["properties"]
    if props["evaluationFrequency"] not in EVALUATION_FREQUENCIES:
        raise _bad_request(f"evaluationFrequency '{props['evaluationFrequency']}' is not supported; use one of "
                           f"{', '.join(EVALUATION_FREQUENCIES)}.")
    if props["windowSize"] not in WINDOW_SIZES:
        raise _bad_request(f"windowSize '{props['windowSize']}' is not supported; use one of "
                           f"{', '.join(WINDOW_SIZES)}.")
    return body


@dataclass
class MetricAlertsApi:
    redis: RedisApi

    def _rg_id(self, sub: str, rg: str) -> str:
        sub = sub.lower()
        if sub not in self.redis.store.subscriptions:
            raise ArmHttpError(404, "SubscriptionNotFound", f"The subscription '{sub}' could not be found.")
        if (sub, rg.lower()) not in self.redis.store.resource_groups:
            raise ArmHttpError(404, "ResourceGroupNotFound", f"Resource group '{rg}' could not be found.")
        return f"/subscriptions/{sub}/resourcegroups/{rg.lower()}/providers/microsoft.insights/metricalerts/"

    def list_by_resource_group(self, call: Call, sub: str, rg: str) -> Reply:
        with self.redis.store.lock:
            prefix = self._rg_id(sub, rg)
            items = [copy.deepcopy(a) for k, a in self.redis.store.metric_alerts.items() if k.startswith(prefix)]
        return Reply(200, {"value": sorted(items, key=lambda a: a["name"].lower())})

    def get(self, call: Call, sub: str, rg: str, alert: str) -> Reply:
        with self.redis.store.lock:
            item = self.redis.store.metric_alerts.get(self._rg_id(sub, rg) + alert.lower())
            if item is None:
                raise _not_found(alert)
            return Reply(200, copy.deepcopy(item))

    def put(self, call: Call, sub: str, rg: str, alert: str) -> Reply:
        body = _validate(parse_json(call.body))
        props = body["properties"]
        with self.redis.store.lock:
            key = self._rg_id(sub, rg) + alert.lower()
            self._check_scopes(props)
            existing = self.redis.store.metric_alerts.get(key)
            name = existing["name"] if existing else alert
            alert_id = existing["id"] if existing else (
                f"/subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.Insights/metricAlerts/{alert}")
            item = {"id": alert_id, "name": name, "type": "Microsoft.Insights/metricAlerts", **copy.deepcopy(body)}
            item["properties"]["isMigrated"] = False
            self.redis.store.metric_alerts[key] = item
            reply = copy.deepcopy(item)
        return Reply(200, reply)  # the 2018-03-01 spec (and so the SDK) has only 200 for create and replace

    def delete(self, call: Call, sub: str, rg: str, alert: str) -> Reply:
        with self.redis.store.lock:
            existed = self.redis.store.metric_alerts.pop(self._rg_id(sub, rg) + alert.lower(), None)
        return Reply(200 if existed else 204)

    def _check_scopes(self, props: Mapping[str, Any]) -> None:
        scopes = props["scopes"]
        criteria = props["criteria"]
        if criteria["odata.type"] == SINGLE_RESOURCE and len(scopes) != 1:
            raise _bad_request("Alert scope is invalid: a single resource criteria needs exactly one scope.")
        for scope in scopes:
            if scope.lower() not in self.redis.store.caches:
                raise _bad_request(f"Alert scope is invalid: the resource '{scope}' was not found.")
        for criterion in criteria.get("allOf") or ():
            namespace = criterion.get("metricNamespace")
            if namespace is not None and namespace.lower() != "microsoft.cache/redis":
                raise _bad_request(f"Metric namespace '{namespace}' does not match the scoped resource type.")
            if criterion["metricName"].lower() not in REDIS_METRICS and not criterion.get("skipMetricValidation"):
                raise _bad_request(f"Couldn't find a metric named {criterion['metricName']}. Make sure the name "
                                   "is correct.")
