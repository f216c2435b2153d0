"""Case-insensitive routing of ARM paths to handlers, with ARM's api-version checks in front.

ARM matches paths without regard to case (`/Subscriptions/.../microsoft.cache/REDIS/...`), and checks the
`api-version` before the resource provider sees the request; both are reproduced here once for every route.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from . import errors
from .alerts_api import API_VERSION as ALERTS_API_VERSION
from .alerts_api import MetricAlertsApi
from .calls import Call, Reply
from .diagnostics_api import DiagnosticsApi
from .errors import ArmHttpError
from .log_alerts_api import API_VERSION as LOG_ALERTS_API_VERSION
from .log_alerts_api import POLICY_STATES_API_VERSION, LogAlertsApi
from .network_api import API_VERSION as NETWORK_API_VERSION
from .network_api import SDK_API_VERSION as NETWORK_SDK_API_VERSION
from .network_api import NetworkApi
from .redis_api import RedisApi

_SUB = r"/subscriptions/(?P<sub>[^/]+)"
_RG = _SUB + r"/resourceGroups/(?P<rg>[^/]+)"
_CACHE = _RG + r"/providers/Microsoft\.Cache/Redis/(?P<name>[^/]+)"
_DS = _CACHE + r"/providers/Microsoft\.Insights"
_ALERTS = _RG + r"/providers/Microsoft\.Insights/metricAlerts"
_PE = _RG + r"/providers/Microsoft\.Network/privateEndpoints/(?P<pe>[^/]+)"
_SUBNET = _RG + r"/providers/Microsoft\.Network/virtualNetworks/(?P<vnet>[^/]+)/subnets/(?P<subnet>[^/]+)"
_NSG = _RG + r"/providers/Microsoft\.Network/networkSecurityGroups/(?P<nsg>[^/]+)"

Handler = Callable[..., Reply]


@dataclass(frozen=True)
class Route:
    pattern: re.Pattern[str]
    methods: dict[str, Handler]
    api_versions: tuple[str, ...]
    type_name: str


def _compile(path: str) -> re.Pattern[str]:
    return re.compile(f"^{path}/?$", re.IGNORECASE)


class Router:
    def __init__(self, redis: RedisApi, diagnostics: DiagnosticsApi, extra_routes: Sequence[Route] = ()) -> None:
        """`extra_routes` come after these (emulator.enterprise_api.enterprise_routes for redisEnterprise)."""
        cache_versions = (redis.spec.api_version,)
        ds_versions = (diagnostics.spec.api_version,)
        self.redis = redis
        self.routes = [
            Route(_compile(_SUB + r"/providers/Microsoft\.Cache/Redis"),
                  {"GET": redis.list_by_subscription}, cache_versions, "Redis"),
            Route(_compile(_RG + r"/providers/Microsoft\.Cache/Redis"),
                  {"GET": redis.list_by_resource_group}, cache_versions, "Redis"),
            Route(_compile(_SUB + r"/providers/Microsoft\.Cache/locations/(?P<location>[^/]+)"
                           r"/asyncOperations/(?P<op_id>[^/]+)"),
                  {"GET": redis.async_operation}, cache_versions, "locations/asyncOperations"),
            Route(_compile(_CACHE), {"GET": redis.get, "PATCH": redis.patch, "DELETE": redis.delete},
                  cache_versions, "Redis"),
            Route(_compile(_CACHE + "/listKeys"), {"POST": redis.list_keys}, cache_versions, "Redis"),
            Route(_compile(_CACHE + "/firewallRules"), {"GET": redis.list_rules}, cache_versions,
                  "Redis/firewallRules"),
            Route(_compile(_CACHE + r"/firewallRules/(?P<rule>[^/]+)"),
                  {"GET": redis.get_rule, "PUT": redis.put_rule, "DELETE": redis.delete_rule},
                  cache_versions, "Redis/firewallRules"),
            Route(_compile(_CACHE + "/privateEndpointConnections"),
                  {"GET": redis.list_private_endpoint_connections}, cache_versions,
                  "Redis/privateEndpointConnections"),
            Route(_compile(_DS + "/diagnosticSettings"), {"GET": diagnostics.list}, ds_versions,
                  "diagnosticSettings"),
            Route(_compile(_DS + r"/diagnosticSettings/(?P<setting>[^/]+)"),
                  {"GET": diagnostics.get, "PUT": diagnostics.put, "DELETE": diagnostics.delete},
                  ds_versions, "diagnosticSettings"),
            Route(_compile(_DS + "/diagnosticSettingsCategories"), {"GET": diagnostics.categories}, ds_versions,
                  "diagnosticSettingsCategories"),
        ]
        # Related resources the baseline reads or writes (emulator.network_api, emulator.alerts_api).
        alerts, network = MetricAlertsApi(redis), NetworkApi(redis.store)
        self.routes += [
            Route(_compile(_CACHE + "/linkedServers"), {"GET": redis.list_linked_servers}, cache_versions,
                  "Redis/linkedServers"),
            Route(_compile(_PE + "/privateDnsZoneGroups"), {"GET": network.list_dns_zone_groups},
                  (NETWORK_API_VERSION,), "privateEndpoints/privateDnsZoneGroups"),
            Route(_compile(_SUB + r"/providers/Microsoft\.Insights/scheduledQueryRules"),
                  {"GET": LogAlertsApi(redis.store).list_by_subscription}, (LOG_ALERTS_API_VERSION,),
                  "scheduledQueryRules"),
            Route(_compile(r"(?P<resource>" + _RG.replace("(?P<sub>", "(?:").replace("(?P<rg>", "(?:")
                           + r"/providers/Microsoft\.Cache/(?:Redis|redisEnterprise)/[^/]+)"
                           r"/providers/Microsoft\.PolicyInsights/policyStates/latest/queryResults"),
                  {"POST": LogAlertsApi(redis.store).policy_states}, (POLICY_STATES_API_VERSION,),
                  "policyStates"),
            Route(_compile(_SUBNET), {"GET": network.get_subnet}, (NETWORK_SDK_API_VERSION,),
                  "virtualNetworks/subnets"),
            Route(_compile(_NSG), {"GET": network.get_nsg}, (NETWORK_SDK_API_VERSION,), "networkSecurityGroups"),
            Route(_compile(_ALERTS), {"GET": alerts.list_by_resource_group}, (ALERTS_API_VERSION,),
                  "metricAlerts"),
            Route(_compile(_ALERTS + r"/(?P<alert>[^/]+)"),
                  {"GET": alerts.get, "PUT": alerts.put, "DELETE": alerts.delete}, (ALERTS_API_VERSION,),
                  "metricAlerts"),
        ]
        self.routes += list(extra_routes)

    def resolves(self, method: str, path: str) -> bool:
        """A route serves this method and path (else dispatch answers ARM's 404/405 before any RBAC check)."""
        return any(r.pattern.match(path) and method in r.methods for r in self.routes)

    def dispatch(self, call: Call) -> Reply:
        for route in self.routes:
            match = route.pattern.match(call.path)
            if match is None:
                continue
            handler = route.methods.get(call.method)
            if handler is None:
                raise ArmHttpError(
                    405, "HttpMethodNotAllowed",
                    f"The requested resource does not support http method '{call.method}'.",
                )
            api_version = call.query.get("api-version")
            if not api_version:
                raise errors.missing_api_version()
            if api_version not in route.api_versions:
                raise errors.unsupported_api_version(
                    api_version, route.type_name, route.api_versions, self._location(match.groupdict())
                )
            return handler(call, **match.groupdict())
        raise ArmHttpError(
            404, "InvalidResourceType", f"The resource type could not be found for path '{call.path}'."
        )

    def _location(self, groups: dict[str, str]) -> str:
        if {"sub", "rg", "name"} <= groups.keys():
            state = self.redis.store.find(groups["sub"].lower(), groups["rg"], groups["name"])
            if state is not None:
                return state.location
        return "global"
