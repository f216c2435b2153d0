"""The only module that talks to ARM: read a cache's snapshot, apply one plan step, list a scope.

Official SDK clients (`RedisManagementClient`, `MonitorManagementClient`) are built once per subscription
and reused. Every write body is sent as raw JSON bytes holding only what the step changes: the SDK's
`RedisUpdateParameters` model would add defaults (`publicNetworkAccess: Enabled`,
`disableAccessKeyAuthentication: false`) to every PATCH and silently undo other people's settings.
Reads use the SDK's `cls=` hook to keep ARM's raw JSON, so a property ARM did not send stays absent
instead of turning into a model default.

Retries: azure-core's retry policy honours Retry-After for transient failures (408/429/5xx), but only for
short waits and a couple of attempts; anything longer surfaces as `throttled`/`transient` so the engine can
defer the work item instead of blocking a Functions worker for minutes. A 409 is never retried here.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any, ClassVar, TypeVar

from azure.core import PipelineClient
from azure.core.credentials import TokenCredential
from azure.core.exceptions import AzureError, HttpResponseError
from azure.core.pipeline.policies import HeadersPolicy, UserAgentPolicy
from azure.core.rest import HttpRequest
from azure.mgmt.core.policies import ARMChallengeAuthenticationPolicy
from azure.mgmt.monitor import MonitorManagementClient
from azure.mgmt.redis import RedisManagementClient

from .. import __version__
from ..models import (
    Actor,
    CacheSnapshot,
    DeleteFirewallRule,
    DiagnosticLog,
    DiagnosticSetting,
    FirewallRule,
    ManualAction,
    MetricAlert,
    PatchCache,
    PrivateEndpointConnection,
    PutDiagnosticSetting,
    PutFirewallRule,
    PutMetricAlert,
    Step,
)
from ..resource_ids import CacheKind, InvalidResourceId, ResourceId, Scope, parse_cache_id
from .bodies import private_endpoint_connections
from .errors import ArmError, from_azure_error
from .pipeline import ArmRetryPolicy, CorrelationPolicy, ResponseInfo, raw_json
from .polling import BoundedArmPolling, StillRunning

__all__ = ["ApplyResult", "ArmError", "Gateway"]

log = logging.getLogger(__name__)
T = TypeVar("T")

ARM_SCOPE = "https://management.azure.com/.default"
SNAPSHOT_INPUTS = frozenset({"firewall_rules", "diagnostic_settings", "diagnostic_categories", "linked_servers",
                             "metric_alerts", "private_dns_zone_groups"})
# Microsoft.Network has no SDK among our dependencies (azure-mgmt-network is large): its one read, the private
# DNS zone groups of a private endpoint, goes through a plain ARM pipeline with the same policies.
NETWORK_API_VERSION = "2023-09-01"
METRIC_ALERT_CRITERIA = "Microsoft.Azure.Monitor.SingleResourceMultipleMetricCriteria"


@dataclass(frozen=True)
class ApplyResult:
    done: bool  # False: ARM accepted the write but it was still running when we stopped waiting
    request_id: str | None
    detail: str = ""
    resource: Mapping[str, Any] | None = None


def _b64url_json(part: str) -> dict[str, Any]:
    try:
        decoded = json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))
    except (binascii.Error, ValueError) as exc:
        raise ArmError("blocked", f"the ARM access token is not a JWT: {exc}", code="InvalidToken") from exc
    if not isinstance(decoded, dict):
        raise ArmError("blocked", "the ARM access token payload is not an object", code="InvalidToken")
    return decoded


class Gateway:
    """Reads and writes one cache at a time through the Azure SDK; every failure is an `ArmError`."""

    ACTIONS: ClassVar[frozenset[str]] = frozenset(
        {
            "Microsoft.Cache/redis/read",
            "Microsoft.Cache/redis/write",
            "Microsoft.Cache/redis/firewallRules/read",
            "Microsoft.Cache/redis/firewallRules/write",
            "Microsoft.Cache/redis/firewallRules/delete",
            "Microsoft.Insights/diagnosticSettings/read",
            "Microsoft.Insights/diagnosticSettings/write",
            "Microsoft.Insights/diagnosticSettingsCategories/read",
            # Linked check on the destination workspace when a diagnostic setting points at it.
            "Microsoft.OperationalInsights/workspaces/sharedKeys/action",
            "Microsoft.Cache/redis/linkedServers/read",
            "Microsoft.Network/privateEndpoints/privateDnsZoneGroups/read",
            "Microsoft.Insights/metricAlerts/read",
            "Microsoft.Insights/metricAlerts/write",
            # Azure Managed Redis (remediators/arm/enterprise.py)
            "Microsoft.Cache/redisEnterprise/read",
            "Microsoft.Cache/redisEnterprise/write",
            "Microsoft.Cache/redisEnterprise/databases/read",
            "Microsoft.Cache/redisEnterprise/databases/write",
            "Microsoft.Cache/redisEnterprise/databases/accessPolicyAssignments/read",
            "Microsoft.Cache/locations/operationResults/read",  # Location poll of a PATCH answered 202
            "Microsoft.Cache/locations/operationsStatus/read",  # Azure-AsyncOperation of a cluster/database PATCH
        }
    )

    def __init__(
        self,
        arm_endpoint: str,
        credential: TokenCredential,
        *,
        timeout: float = 30.0,
        lro_wait_seconds: float = 20.0,
        polling_interval: float = 1.0,
        retry_total: int = 2,
        max_retry_after: float = 5.0,
    ) -> None:
        self.arm_endpoint = arm_endpoint.rstrip("/")
        self.credential = credential
        self.timeout = timeout
        self.lro_wait_seconds = lro_wait_seconds
        self.polling_interval = polling_interval
        self.retry_total = retry_total
        self.max_retry_after = max_retry_after
        self._lock = threading.Lock()
        self._redis_clients: dict[str, RedisManagementClient] = {}
        self._monitor_clients: dict[str, MonitorManagementClient] = {}
        self._enterprise: Any = None  # EnterpriseGateway, built on first use (it imports this module)
        self._arm_client: PipelineClient[Any, Any] | None = None

    # ------------------------------------------------------------------------------------------ clients

    @property
    def _timeouts(self) -> dict[str, float]:
        return {"connection_timeout": min(10.0, self.timeout), "read_timeout": self.timeout}

    def _client_kwargs(self) -> dict[str, Any]:
        return {
            "base_url": self.arm_endpoint,
            "polling_interval": self.polling_interval,
            "per_call_policies": [CorrelationPolicy()],
            "retry_policy": ArmRetryPolicy(
                self.max_retry_after,
                retry_total=self.retry_total,
                retry_backoff_factor=0.5,
                retry_backoff_max=self.max_retry_after,
            ),
            **self._timeouts,
        }

    def _redis(self, subscription_id: str) -> RedisManagementClient:
        with self._lock:
            client = self._redis_clients.get(subscription_id)
            if client is None:
                client = RedisManagementClient(self.credential, subscription_id, **self._client_kwargs())
                self._redis_clients[subscription_id] = client
            return client

    def _monitor(self, subscription_id: str) -> MonitorManagementClient:
        with self._lock:
            client = self._monitor_clients.get(subscription_id)
            if client is None:
                client = MonitorManagementClient(self.credential, subscription_id, **self._client_kwargs())
                self._monitor_clients[subscription_id] = client
            return client

    def _arm(self) -> PipelineClient[Any, Any]:
        """A plain ARM pipeline with the SDK clients' policies (token, correlation id, bounded retries), for
        reads of resource types we have no SDK for."""
        with self._lock:
            if self._arm_client is None:
                kwargs = self._client_kwargs()
                self._arm_client = PipelineClient(
                    self.arm_endpoint,
                    policies=[
                        HeadersPolicy({"Accept": "application/json"}),
                        UserAgentPolicy(sdk_moniker=f"redis-warden/{__version__}"),
                        *kwargs["per_call_policies"],
                        kwargs["retry_policy"],
                        ARMChallengeAuthenticationPolicy(self.credential, ARM_SCOPE),
                    ],
                )
            return self._arm_client

    def _arm_list(self, path: str, api_version: str) -> list[dict[str, Any]]:
        """GET a list API on `path`, following nextLink; errors map like the SDK's."""
        client = self._arm()
        url: str | None = f"{self.arm_endpoint}{path}?api-version={api_version}"
        items: list[dict[str, Any]] = []
        while url:
            response = self._call(lambda req=HttpRequest("GET", url): client.send_request(req, **self._timeouts))
            if response.status_code >= 400:
                raise from_azure_error(HttpResponseError(response=response))
            body = response.json() if response.text() else {}
            items.extend(i for i in body.get("value") or () if isinstance(i, dict))
            url = body.get("nextLink")
        return items

    @staticmethod
    def _call(fn: Callable[[], T]) -> T:
        try:
            return fn()
        except AzureError as exc:
            raise from_azure_error(exc) from exc

    @staticmethod
    def _check_kind(cache: ResourceId) -> None:
        if cache.kind is not CacheKind.REDIS:
            raise ArmError(
                "invalid", f"{cache.kind} is not handled by this gateway yet", code="UnsupportedResourceType"
            )

    # ------------------------------------------------------------------------------------------ reads

    def _amr(self) -> Any:
        """The Azure Managed Redis delegate (`remediators.arm.enterprise.EnterpriseGateway`)."""
        with self._lock:
            if self._enterprise is None:
                from .enterprise import EnterpriseGateway

                self._enterprise = EnterpriseGateway(self)
            return self._enterprise

    def read(self, cache: ResourceId, needs: frozenset[str] = frozenset({"firewall_rules"})) -> CacheSnapshot:
        """One GET of the cache plus only the inputs in `needs` (`SNAPSHOT_INPUTS`); inputs not read stay None
        (a rule that needs them reports `unknown`). Private DNS zone groups are read only for Approved
        connections of a cache whose public access is not already Disabled (nothing else uses them)."""
        if cache.kind is CacheKind.REDIS_ENTERPRISE:
            return self._amr().read(cache, needs)  # type: ignore[no-any-return]
        self._check_kind(cache)
        client = self._redis(cache.subscription_id)
        rg, name = cache.resource_group, cache.name
        resource = self._call(lambda: client.redis.get(rg, name, cls=raw_json, **self._timeouts))
        if not isinstance(resource, dict):
            raise ArmError("transient", "ARM returned an empty body for the cache", code="EmptyBody")
        props = resource.get("properties") or {}
        rules = None
        if "firewall_rules" in needs:
            rules = self._list_rules(cache)
        settings = categories = None
        if "diagnostic_settings" in needs or "diagnostic_categories" in needs:
            settings, categories = self.read_diagnostics(cache.arm_id, cache.subscription_id, needs)
        linked = self._linked_servers(cache, props) if "linked_servers" in needs else None
        connections = private_endpoint_connections(resource)
        if "private_dns_zone_groups" in needs and str(props.get("publicNetworkAccess")).lower() != "disabled":
            connections = self._with_dns_zone_groups(connections)
        alerts = self._metric_alerts(cache) if "metric_alerts" in needs else None
        return CacheSnapshot(
            cache_id=cache,
            resource=resource,
            firewall_rules=rules,
            private_endpoint_connections=connections,
            metric_alerts=alerts,
            diagnostic_settings=settings,
            diagnostic_categories=categories,
            linked_servers=linked,
            read_at=datetime.now(UTC),
        )

    def read_diagnostics(
        self, target: str, subscription_id: str, needs: frozenset[str]
    ) -> tuple[tuple[DiagnosticSetting, ...] | None, tuple[str, ...] | None]:
        """Diagnostic settings and offered log categories of `target` (a cache, or an Azure Managed Redis
        database), each only when `needs` asks for it; what is not read stays None."""
        monitor = self._monitor(subscription_id)
        settings = categories = None
        if "diagnostic_settings" in needs:
            items = self._call(lambda: list(monitor.diagnostic_settings.list(target, **self._timeouts)))
            settings = tuple(_diagnostic_setting(i) for i in items)
        if "diagnostic_categories" in needs:
            found = self._call(lambda: list(monitor.diagnostic_settings_category.list(target, **self._timeouts)))
            categories = tuple(str(c.name) for c in found if c.name)
        return settings, categories

    def _linked_servers(self, cache: ResourceId, props: Mapping[str, Any]) -> tuple[dict[str, Any], ...]:
        """Geo-replication partners with their locations (LinkedServer_List). The GET body lists linked
        servers by id only; when it says there are none (`linkedServers: []`) no list call is made."""
        if props.get("linkedServers") == []:
            return ()
        client = self._redis(cache.subscription_id)
        items = self._call(lambda: list(client.linked_server.list(cache.resource_group, cache.name,
                                                                   **self._timeouts)))
        return tuple(
            {
                "id": i.id,
                "name": str(i.name or "").rsplit("/", 1)[-1],
                "properties": {
                    "linkedRedisCacheId": i.linked_redis_cache_id,
                    "linkedRedisCacheLocation": i.linked_redis_cache_location,
                    "serverRole": i.server_role,
                    "provisioningState": i.provisioning_state,
                },
            }
            for i in items
        )

    def _with_dns_zone_groups(
        self, connections: tuple[PrivateEndpointConnection, ...]
    ) -> tuple[PrivateEndpointConnection, ...]:
        """Fill `private_dns_zone_groups` for Approved connections (the only ones public-network-access can
        rely on), one list call per private endpoint. A private endpoint that no longer exists has none; one
        we may not read (403, another team's subscription) stays None = not read, never "present"."""
        found: dict[str, tuple[str, ...] | None] = {}
        out = []
        for conn in connections:
            pe = conn.private_endpoint_id
            if not pe or str(conn.status).lower() != "approved":
                out.append(conn)
                continue
            key = pe.lower()
            if key not in found:
                try:
                    groups = self._arm_list(pe.rstrip("/") + "/privateDnsZoneGroups", NETWORK_API_VERSION)
                    found[key] = tuple(str(g.get("name") or str(g.get("id", "")).rsplit("/", 1)[-1]) for g in groups)
                except ArmError as exc:
                    if exc.kind == "gone":
                        found[key] = ()
                    elif exc.kind in ("blocked", "invalid"):
                        log.warning("private DNS zone groups of %s not readable: %s", pe, exc)
                        found[key] = None
                    else:
                        raise
            out.append(replace(conn, private_dns_zone_groups=found[key]))
        return tuple(out)

    def _metric_alerts(self, cache: ResourceId) -> tuple[MetricAlert, ...]:
        """Metric alert rules in the cache's resource group whose scopes contain the cache (the cache itself,
        its resource group or subscription). Rules kept in other resource groups are not seen."""
        monitor = self._monitor(cache.subscription_id)
        items = self._call(lambda: list(monitor.metric_alerts.list_by_resource_group(cache.resource_group,
                                                                                      **self._timeouts)))
        key = cache.arm_id.lower()
        out = []
        for item in items:
            scopes = tuple(str(s) for s in item.scopes or ())
            if not any(key == s.rstrip("/").lower() or key.startswith(s.rstrip("/").lower() + "/") for s in scopes):
                continue
            criteria = getattr(item.criteria, "all_of", None) or ()
            out.append(MetricAlert(
                id=str(item.id),
                scopes=scopes,
                metrics=tuple(str(c.metric_name) for c in criteria if getattr(c, "metric_name", None)),
                action_group_ids=tuple(str(a.action_group_id) for a in item.actions or () if a.action_group_id),
                enabled=bool(item.enabled),
            ))
        return tuple(out)

    def _list_rules(self, cache: ResourceId) -> tuple[FirewallRule, ...]:
        client = self._redis(cache.subscription_id)
        items = self._call(
            lambda: list(client.firewall_rules.list(cache.resource_group, cache.name, **self._timeouts))
        )
        return tuple(
            FirewallRule(name=str(i.name).rsplit("/", 1)[-1], start_ip=str(i.start_ip), end_ip=str(i.end_ip))
            for i in items
        )

    def list_caches(self, scope: Scope) -> list[ResourceId]:
        """Every Microsoft.Cache/redis and Microsoft.Cache/redisEnterprise cluster in a subscription or
        resource group, following nextLink."""
        if scope.cache is not None:
            return [scope.cache]
        client = self._redis(scope.subscription_id)
        rg = scope.resource_group
        if rg is None:
            items = self._call(lambda: list(client.redis.list_by_subscription(**self._timeouts)))
        else:
            items = self._call(lambda: list(client.redis.list_by_resource_group(rg, **self._timeouts)))
        return _cache_ids(str(i.id) for i in items) + self._amr().list_clusters(scope)

    # ------------------------------------------------------------------------------------------ writes

    def apply(self, cache: ResourceId, step: Step) -> ApplyResult:
        if cache.kind is CacheKind.REDIS_ENTERPRISE:
            return self._amr().apply(cache, step)  # type: ignore[no-any-return]
        self._check_kind(cache)
        if isinstance(step, PatchCache):
            return self._patch(cache, step)
        if isinstance(step, PutFirewallRule):
            return self._put_rule(cache, step)
        if isinstance(step, DeleteFirewallRule):
            return self._delete_rule(cache, step)
        if isinstance(step, PutDiagnosticSetting):
            return self._put_setting(cache, step)
        if isinstance(step, PutMetricAlert):
            return self._put_metric_alert(cache, step)
        if isinstance(step, ManualAction):
            raise ArmError("invalid", f"a manual action cannot be applied: {step.reason}", code="ManualAction")
        raise ArmError("invalid", f"unknown step {type(step).__name__}", code="UnknownStep")

    def _patch(self, cache: ResourceId, step: PatchCache) -> ApplyResult:
        client = self._redis(cache.subscription_id)
        body = json.dumps(dict(step.body)).encode("utf-8")
        info = ResponseInfo()
        deadline = time.monotonic() + self.lro_wait_seconds
        poller = self._call(
            lambda: client.redis.begin_update(
                cache.resource_group,
                cache.name,
                body,
                content_type="application/json",
                cls=raw_json,
                polling=BoundedArmPolling(self.polling_interval, deadline, **self._timeouts),
                raw_response_hook=info,
                **self._timeouts,
            )
        )
        return self.finish_lro(poller, info)

    def finish_lro(self, poller: Any, info: ResponseInfo) -> ApplyResult:
        """Wait (bounded) for a PATCH's long-running operation: not finished in time is a deferral, not a
        failure, and an error keeps the request id of the PATCH that started it so the audit can cite it."""
        request_id = info.request_id
        try:
            resource = self._call(poller.result)
        except ArmError as exc:
            exc.request_id = exc.request_id or request_id
            raise
        except StillRunning:
            return ApplyResult(False, request_id, detail=f"still running after {self.lro_wait_seconds:g}s")
        state = ((resource or {}).get("properties") or {}).get("provisioningState") if resource else None
        return ApplyResult(True, request_id, detail=f"provisioningState {state or 'unknown'}", resource=resource)

    def _put_rule(self, cache: ResourceId, step: PutFirewallRule) -> ApplyResult:
        client = self._redis(cache.subscription_id)
        body = json.dumps({"properties": {"startIP": step.start_ip, "endIP": step.end_ip}}).encode("utf-8")
        info = ResponseInfo()
        resource = self._call(
            lambda: client.firewall_rules.create_or_update(
                cache.resource_group, cache.name, step.name, body, content_type="application/json",
                cls=raw_json, raw_response_hook=info, **self._timeouts,
            )
        )
        return ApplyResult(True, info.request_id, detail=f"HTTP {info.status}", resource=resource)

    def _delete_rule(self, cache: ResourceId, step: DeleteFirewallRule) -> ApplyResult:
        """Re-read right before deleting: never act on a stale list, never leave public access open to all."""
        client = self._redis(cache.subscription_id)
        resource = self._call(lambda: client.redis.get(cache.resource_group, cache.name, cls=raw_json,
                                                       **self._timeouts))
        rules = self._list_rules(cache)
        current = next((r for r in rules if r.name.lower() == step.name.lower()), None)
        if current is None:
            raise ArmError("stale", f"firewall rule {step.name} is no longer there", code="StaleFirewallRules")
        if (current.start_ip, current.end_ip) != (step.start_ip, step.end_ip):
            raise ArmError(
                "stale",
                f"firewall rule {step.name} is now {current.start_ip}-{current.end_ip}, "
                f"not {step.start_ip}-{step.end_ip}",
                code="StaleFirewallRules",
            )
        public = ((resource or {}).get("properties") or {}).get("publicNetworkAccess", "Enabled")
        if len(rules) == 1 and str(public).lower() != "disabled":
            raise ArmError(
                "unsafe",
                f"deleting {step.name}, the last firewall rule, would open the cache to every address",
                code="WouldAdmitAll",
            )
        info = ResponseInfo()
        self._call(lambda: client.firewall_rules.delete(cache.resource_group, cache.name, step.name,
                                                        raw_response_hook=info, **self._timeouts))
        detail = "already absent" if info.status == 204 else f"HTTP {info.status}"
        return ApplyResult(True, info.request_id, detail=detail)

    def _put_setting(self, cache: ResourceId, step: PutDiagnosticSetting) -> ApplyResult:
        return self.put_diagnostic_setting(cache.arm_id, cache.subscription_id, step)

    def put_diagnostic_setting(self, target: str, subscription_id: str, step: PutDiagnosticSetting) -> ApplyResult:
        """The same setting body on a cache or on an Azure Managed Redis database (`target` is its id)."""
        monitor = self._monitor(subscription_id)
        logs = [{"category": c, "enabled": True} for c in step.categories]
        logs += [{"categoryGroup": g, "enabled": True} for g in step.category_groups]
        body = json.dumps({"properties": {"workspaceId": step.workspace_id, "logs": logs}}).encode("utf-8")
        info = ResponseInfo()
        resource = self._call(
            lambda: monitor.diagnostic_settings.create_or_update(
                target, step.name, body, content_type="application/json", cls=raw_json,
                raw_response_hook=info, **self._timeouts,
            )
        )
        return ApplyResult(True, info.request_id, detail=f"HTTP {info.status}", resource=resource)

    def _put_metric_alert(self, cache: ResourceId, step: PutMetricAlert) -> ApplyResult:
        """PUT one alert rule in the cache's resource group with only the fields it needs (a dict body: the
        SDK model would add nothing harmful here, but raw JSON keeps every write body reviewable)."""
        monitor = self._monitor(cache.subscription_id)
        body = {
            "location": "global",
            "properties": {
                "description": f"redis-warden: {step.metric} on {cache.name} (rule {step.rule})",
                "severity": step.severity,
                "enabled": True,
                "scopes": [step.scope],
                "evaluationFrequency": step.evaluation_frequency,
                "windowSize": step.window_size,
                "criteria": {
                    "odata.type": METRIC_ALERT_CRITERIA,
                    "allOf": [{
                        "criterionType": "StaticThresholdCriterion",
                        "name": step.metric,
                        "metricName": step.metric,
                        "metricNamespace": step.metric_namespace,
                        "operator": step.operator,
                        "threshold": step.threshold,
                        "timeAggregation": step.aggregation,
                    }],
                },
                "autoMitigate": True,
                "actions": [{"actionGroupId": step.action_group_id}],
            },
        }
        info = ResponseInfo()
        resource = self._call(
            lambda: monitor.metric_alerts.create_or_update(
                cache.resource_group, step.name, json.dumps(body).encode("utf-8"), content_type="application/json",
                cls=raw_json, raw_response_hook=info, **self._timeouts,
            )
        )
        return ApplyResult(True, info.request_id, detail=f"HTTP {info.status}", resource=resource)

    # ------------------------------------------------------------------------------------------ identity

    def own_identity(self) -> Actor:
        """Who the warden is to ARM, from its own access token's payload (no signature check is needed:
        the token came straight from our credential), so our own writes can be recognised in events."""
        token = self._call(lambda: self.credential.get_token(ARM_SCOPE)).token
        parts = token.split(".")
        if len(parts) != 3:
            raise ArmError("blocked", "the ARM access token is not a JWT", code="InvalidToken")
        claims = _b64url_json(parts[1])
        idtyp = claims.get("idtyp")
        return Actor(
            object_id=claims.get("oid"),
            app_id=claims.get("appid") or claims.get("azp"),
            principal_type={"app": "ServicePrincipal", "user": "User"}.get(str(idtyp)) if idtyp else None,
            upn=claims.get("upn"),
            name=claims.get("name"),
            managed_identity_id=claims.get("xms_mirid"),
        )


# ---------------------------------------------------------------------------------------------- mapping


def _cache_ids(ids: Iterable[str]) -> list[ResourceId]:
    out: list[ResourceId] = []
    for raw in ids:
        try:
            out.append(parse_cache_id(raw))
        except InvalidResourceId as exc:
            log.warning("skipping a listed resource with an unexpected id %r: %s", raw, exc)
    return out


def _diagnostic_setting(item: Any) -> DiagnosticSetting:
    logs = tuple(
        DiagnosticLog(category=log_.category, category_group=log_.category_group, enabled=bool(log_.enabled))
        for log_ in (item.logs or ())
    )
    return DiagnosticSetting(name=str(item.name), workspace_id=item.workspace_id, logs=logs)
