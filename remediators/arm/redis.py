"""Azure Cache for Redis (`Microsoft.Cache/redis`): read a cache into a snapshot, list caches, apply a step.

Every write body is sent as raw JSON bytes holding only what the step changes: the SDK's
`RedisUpdateParameters` model would add defaults (`publicNetworkAccess: Enabled`,
`disableAccessKeyAuthentication: false`) to every PATCH and silently undo other people's settings.
Reads use the SDK's `cls=` hook to keep ARM's raw JSON, so a property ARM did not send stays absent
instead of turning into a model default.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any, TypeVar

from azure.mgmt.redis import RedisManagementClient

from ..models import (
    CacheSnapshot,
    DeleteFirewallRule,
    FirewallRule,
    ManualAction,
    PatchCache,
    PutDiagnosticSetting,
    PutFirewallRule,
    PutMetricAlert,
    Step,
)
from ..resource_ids import CacheKind, ResourceId, Scope, valid_firewall_rule_name
from . import polling
from .bodies import (
    InvalidBody,
    Listed,
    firewall_rules,
    listed_body_usable,
    listed_ids,
    private_endpoint_connections,
    public_access_disabled,
)
from .errors import RETRYABLE_KINDS, ArmError
from .monitor import Monitor
from .network import Network
from .pipeline import ApplyResult, ArmSession, ResponseInfo, documented_resource, raw_json
from .shared import SharedReads

T = TypeVar("T")

REDIS_API_VERSION = "2024-11-01"  # what azure-mgmt-redis 14.5.0 sends (reference/arm-specs/redis/redis.json)
RESOURCE_TYPE = "Microsoft.Cache/redis"

ACTIONS = frozenset({
    "Microsoft.Cache/redis/read",
    "Microsoft.Cache/redis/write",
    "Microsoft.Cache/redis/firewallRules/read",
    "Microsoft.Cache/redis/firewallRules/write",
    "Microsoft.Cache/redis/firewallRules/delete",
    "Microsoft.Cache/redis/linkedServers/read",
})


class RedisCaches:
    """Azure Cache for Redis through `RedisManagementClient`; every failure is an `ArmError`."""

    KIND = CacheKind.REDIS

    def __init__(self, session: ArmSession, monitor: Monitor, network: Network,
                 shared: SharedReads | None = None) -> None:
        self.session = session
        self.monitor = monitor
        self.network = network
        self.shared = shared or monitor.shared

    def _client(self, subscription_id: str) -> RedisManagementClient:
        return self.session.client(RedisManagementClient, subscription_id)

    # ------------------------------------------------------------------------------------------ reads

    def read(self, cache: ResourceId, needs: frozenset[str], scan_id: str | None = None) -> CacheSnapshot:
        """The cache body plus the inputs in `needs`. In a scan the body the listing returned stands for the
        GET (the list API answers the same `RedisResource`: spec `RedisListResult.value`, and the recorded
        listing in tests/conformance); a listed body missing a property we rely on is read with a GET.
        Firewall rules are read only while public access is on: with `publicNetworkAccess: Disabled` they
        admit nothing and no rule or safety check looks at them."""
        listed = self.shared.take_listed(cache.key) if scan_id else None
        from_listing = listed is not None and listed_body_usable(cache, listed)
        if from_listing:
            resource: Any = dict(listed or {})
        else:
            resource = self.session.get(cache.arm_id, REDIS_API_VERSION)  # Redis_Get, ARM's JSON as sent
        props = documented_resource(resource).get("properties") or {}
        errors: dict[str, str] = {}
        retryable: set[str] = set()

        def optional(names: tuple[str, ...], read: Callable[[], T], fallback: T) -> T:
            """One input's read: its failure leaves it unread (rules needing it say `unknown`) and is kept
            with ARM's words; only the cache's own GET decides that the cache is gone."""
            try:
                return read()
            except ArmError as exc:
                if exc.status is None:
                    raise  # not ARM refusing: a hostile or broken answer (off-host link, loop) stops the read
                for input_name in names:
                    errors[input_name] = f"{exc.status or ''} {exc.code or exc.kind}: {exc.message}".strip()
                    if exc.kind in RETRYABLE_KINDS:
                        retryable.add(input_name)
                return fallback

        rules = optional(("firewall_rules",), lambda: self._list_rules(cache), None) \
            if "firewall_rules" in needs and not public_access_disabled(props) else None
        settings = categories = None
        if "diagnostic_settings" in needs or "diagnostic_categories" in needs:
            settings, categories = optional(
                tuple(n for n in ("diagnostic_settings", "diagnostic_categories") if n in needs),
                lambda: self.monitor.read_diagnostics(cache.arm_id, cache.subscription_id, needs, RESOURCE_TYPE),
                (None, None))
        linked = optional(("linked_servers",), lambda: self._linked_servers(cache, props), None) \
            if "linked_servers" in needs else None
        base = private_endpoint_connections(resource)
        connections = optional(("private_dns_zone_groups",), lambda: self.network.with_dns_when_needed(
            base, props.get("publicNetworkAccess"), needs), base)
        alerts = optional(("metric_alerts",), lambda: self.monitor.metric_alerts(cache, scan_id), None) \
            if "metric_alerts" in needs else None
        nsg = nsg_error = None
        if "network_security_group" in needs and props.get("subnetId"):
            nsg, nsg_error = self.network.subnet_nsg(props.get("subnetId"))
        return CacheSnapshot(
            cache_id=cache,
            resource=resource,
            firewall_rules=rules,
            private_endpoint_connections=connections,
            metric_alerts=alerts,
            diagnostic_settings=settings,
            diagnostic_categories=categories,
            linked_servers=linked,
            network_security_group=nsg,
            network_security_group_error=nsg_error,
            read_at=datetime.now(UTC),
            read_errors=errors,
            retryable_read_errors=frozenset(retryable),
            from_listing=from_listing,
        )

    def _linked_servers(self, cache: ResourceId, props: Mapping[str, Any]) -> tuple[dict[str, Any], ...]:
        """Geo-replication partners with their locations (LinkedServer_List). The GET body lists linked
        servers by id only; when it says there are none (`linkedServers: []`) no list call is made."""
        if props.get("linkedServers") == []:
            return ()
        s, client = self.session, self._client(cache.subscription_id)
        items = s.list_sdk(lambda: client.linked_server.list(cache.resource_group, cache.name, **s.timeouts),
                           f"linked servers of {cache.arm_id}")
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

    def _list_rules(self, cache: ResourceId) -> tuple[FirewallRule, ...]:
        """FirewallRules_List as raw JSON through the session's pipeline (same token, retry and paging bounds
        as the SDK client): building SDK models for three strings a rule cost more CPU than the whole list
        read otherwise (issue 13). A malformed list is refused like one the SDK could not deserialize."""
        items = self.session.list(f"{cache.arm_id}/firewallRules", REDIS_API_VERSION)
        try:
            return firewall_rules(items)
        except InvalidBody as exc:
            raise ArmError("invalid", f"{cache.arm_id}: {exc}", code="InvalidListAnswer") from exc

    def list_caches(self, scope: Scope) -> Listed:
        """Every Microsoft.Cache/redis in a subscription or resource group, following nextLink (within the
        paging bounds); ids outside ARM's grammar or the scope are refused (`listed_ids`). Each listed cache's
        raw body is offered to the scan's first read of that cache, so the listing is the snapshot (`read`)."""
        items = self.session.list(f"{scope.arm_id}/providers/Microsoft.Cache/redis", REDIS_API_VERSION)
        listed = listed_ids((str(i.get("id")) for i in items), scope)
        by_key = {str(i.get("id")).lower(): i for i in items}
        for cache in listed.caches:
            body = by_key.get(cache.key)
            if body is not None:
                self.shared.offer_listed(cache.key, body)
        return listed

    # ------------------------------------------------------------------------------------------ writes

    def apply(self, cache: ResourceId, step: Step) -> ApplyResult:
        if isinstance(step, PatchCache):
            return self._patch(cache, step)
        if isinstance(step, PutFirewallRule):
            return self._put_rule(cache, step)
        if isinstance(step, DeleteFirewallRule):
            return self._delete_rule(cache, step)
        if isinstance(step, PutDiagnosticSetting):
            return self.monitor.put_diagnostic_setting(cache.arm_id, cache.subscription_id, step)
        if isinstance(step, PutMetricAlert):
            return self.monitor.put_metric_alert(cache, step)
        if isinstance(step, ManualAction):
            raise ArmError("invalid", f"a manual action cannot be applied: {step.reason}", code="ManualAction")
        raise ArmError("invalid", f"unknown step {type(step).__name__}", code="UnknownStep")

    def _patch(self, cache: ResourceId, step: PatchCache) -> ApplyResult:
        client = self._client(cache.subscription_id)
        body = json.dumps(dict(step.body)).encode("utf-8")
        info = ResponseInfo()
        kwargs = polling.begin_kwargs(self.session, info)
        poller = self.session.call(lambda: client.redis.begin_update(cache.resource_group, cache.name, body, **kwargs))
        return polling.finish(self.session, poller, info)

    def _put_rule(self, cache: ResourceId, step: PutFirewallRule) -> ApplyResult:
        _require_rule_name(step.name)
        s, client = self.session, self._client(cache.subscription_id)
        body = json.dumps({"properties": {"startIP": step.start_ip, "endIP": step.end_ip}}).encode("utf-8")
        info = ResponseInfo()
        resource = s.call(
            lambda: client.firewall_rules.create_or_update(
                cache.resource_group, cache.name, step.name, body, content_type="application/json",
                cls=raw_json, raw_response_hook=info, **s.timeouts,
            )
        )
        return info.done(resource)

    def _delete_rule(self, cache: ResourceId, step: DeleteFirewallRule) -> ApplyResult:
        """Re-read right before deleting: never act on a stale list, never leave public access open to all."""
        _require_rule_name(step.name)
        s, client = self.session, self._client(cache.subscription_id)
        resource = s.call(lambda: client.redis.get(cache.resource_group, cache.name, cls=raw_json, **s.timeouts))
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
        s.call(lambda: client.firewall_rules.delete(cache.resource_group, cache.name, step.name,
                                                    raw_response_hook=info, **s.timeouts))
        return info.done(detail="already absent" if info.status == 204 else None)


def _require_rule_name(name: str) -> None:
    """A firewall rule name outside ARM's grammar (`^\\w+$`) is never sent: `..` would be normalised by
    the HTTP stack into `DELETE .../redis/{cache}`, the cache itself."""
    if not valid_firewall_rule_name(name):
        raise ArmError("invalid", f"firewall rule name {name!r} is outside ARM's grammar; not sent",
                       code="InvalidResourceName")
