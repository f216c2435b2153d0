"""The emulator's state: caches, their children and long-running operations, behind one lock.

A long-running PATCH finishes after its configured duration (`lroSeconds`) whether or not anyone polls, as
ARM's own operations do: the change is applied when the operation completes, so until then a GET shows the
old values with `provisioningState: Updating` (azure-cli recording `test_redis_cache_update.yaml`, see
tests/conformance/fixtures/SOURCES.md). Completion is evaluated lazily on every access, which is the same
thing observed from outside. `lroPolls` (an emulator-only knob, default 0) can additionally require that
many polls, for tests that must not depend on the clock.
"""

from __future__ import annotations

import copy
import secrets
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .fleet import CacheSeed
from .provisioning import (
    is_due,
    observe,
    offered_category,
    provisioning_sequence,
    seeded_faults,
    set_provisioning_state,
    take_fault,
)
from .provisioning import provisioning_state as _provisioning_state

DEFAULT_CATEGORIES: tuple[Mapping[str, Any], ...] = (
    {"name": "ConnectedClientList", "categoryType": "Logs", "categoryGroups": ["allLogs"]},
    {"name": "MSEntraAuthenticationAuditLog", "categoryType": "Logs", "categoryGroups": ["audit", "allLogs"]},
    {"name": "AllMetrics", "categoryType": "Metrics", "categoryGroups": []},
)


@dataclass
class Operation:
    id: str
    cache_key: str
    polls_remaining: int
    not_before: float
    done: bool = False
    fail: bool = False  # ends provisioningState Failed with the change never applied (knob `lroFailures`)
    location: str = ""  # the cache's display location, as ARM writes it in the operation's id
    apply: Callable[[CacheState], None] | None = None  # the accepted change, applied on completion
    # Opaque signed query parameters ARM puts in the status URL (the recording's t=...&s=...).
    token: str = field(default_factory=lambda: str(time.time_ns()))
    signature: str = field(default_factory=lambda: secrets.token_urlsafe(16))


@dataclass
class CacheState:
    key: str  # lower-cased id
    id: str
    subscription_id: str
    resource_group: str
    name: str
    body: dict[str, Any]
    rules: dict[str, dict[str, Any]]  # lower-cased name -> list item
    settings: dict[str, dict[str, Any]]  # lower-cased name -> diagnostic setting resource
    categories: list[dict[str, Any]]
    faults: list[dict[str, Any]]
    lro_polls: int
    lro_seconds: float
    sequence: list[str] | None = None
    sequence_index: int = 0
    operation: Operation | None = None
    delete_after: int | None = None  # knob `deleteAfterRequests` (emulator.faults)
    requests_seen: int = 0
    lro_failures: int = 0  # knob `lroFailures`: the next N PATCH operations end Failed
    linked: dict[str, dict[str, Any]] = field(default_factory=dict)  # lower-cased name -> LinkedServer item
    configuring_aad_gets: int = 0  # knob `configuringAadForGets`
    after_operation: list[str] | None = None  # states shown on GETs once the running operation completes
    hostile: dict[str, Any] = field(default_factory=dict)  # knob `hostile` (emulator.hostile)

    @property
    def provisioning_state(self) -> str:
        return _provisioning_state(self.body)

    def set_provisioning_state(self, value: str) -> None:
        set_provisioning_state(self.body, value)

    @property
    def location(self) -> str:
        return str(self.body.get("location", "")).replace(" ", "").lower()


@dataclass
class Store:
    """All mutable state. Every access from request threads goes through `lock`."""

    lro_polls: int = 0
    lro_seconds: float = 0.0
    clock: Callable[[], float] = time.monotonic
    lock: threading.RLock = field(default_factory=threading.RLock)
    caches: dict[str, CacheState] = field(default_factory=dict)
    operations: dict[str, Operation] = field(default_factory=dict)
    resource_groups: set[tuple[str, str]] = field(default_factory=set)
    subscriptions: set[str] = field(default_factory=set)
    # Microsoft.Network private endpoints the fleet knows (lower-cased id -> its privateDnsZoneGroups items)
    private_endpoints: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    metric_alerts: dict[str, dict[str, Any]] = field(default_factory=dict)  # lower-cased id -> resource
    # VNet injection: subnets named by caches' subnetId and the NSGs on them (lower-cased id -> GET body)
    subnets: dict[str, dict[str, Any]] = field(default_factory=dict)
    network_security_groups: dict[str, dict[str, Any]] = field(default_factory=dict)
    scheduled_query_rules: dict[str, dict[str, Any]] = field(default_factory=dict)  # lower-cased id -> body
    policy_states: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # lower-cased cache id -> rows

    def load(self, seeds: Iterable[CacheSeed]) -> None:
        with self.lock:
            for seed in seeds:
                self.add(seed)

    def add(self, seed: CacheSeed) -> CacheState:
        body = copy.deepcopy(dict(seed.body))
        props = body.setdefault("properties", {})
        props.setdefault("provisioningState", "Succeeded")
        knobs = seed.knobs
        cache_id = body["id"]
        rules = {}
        for rule in seed.firewall_rules:
            name = rule["name"].rsplit("/", 1)[-1]
            rules[name.lower()] = rule_item(cache_id, name, rule["properties"])
        settings = {}
        for ds in seed.diagnostic_settings:
            settings[ds["name"].lower()] = setting_resource(cache_id, ds["name"], ds["properties"])
        sequence = provisioning_sequence(knobs)
        state = CacheState(
            key=cache_id.lower(),
            id=cache_id,
            subscription_id=seed.subscription_id,
            resource_group=seed.resource_group,
            name=seed.name,
            body=body,
            rules=rules,
            settings=settings,
            categories=[offered_category(c) for c in knobs.get("offeredDiagnosticCategories", DEFAULT_CATEGORIES)],
            faults=seeded_faults(knobs),
            lro_polls=int(knobs.get("lroPolls", self.lro_polls)),
            lro_seconds=float(knobs.get("lroSeconds", self.lro_seconds)),
            sequence=sequence,
            delete_after=int(knobs["deleteAfterRequests"]) if "deleteAfterRequests" in knobs else None,
            lro_failures=int(knobs.get("lroFailures", 0)),
        )
        if sequence:
            state.set_provisioning_state(sequence[0])
        state.configuring_aad_gets = int(knobs.get("configuringAadForGets", 0))
        state.hostile = dict(knobs.get("hostile", {}))
        self._add_related(state, seed, props)
        with self.lock:
            self.caches[state.key] = state
            self.register_scope(seed.subscription_id, seed.resource_group)
        return state

    def _add_related(self, state: CacheState, seed: CacheSeed, props: dict[str, Any]) -> None:
        """Linked servers (their ids also go into the body, as ARM shows them), the private endpoints the
        connections use with their DNS zone groups, and metric alert rules in the cache's resource group."""
        for item in seed.linked_servers:
            name = str(item["name"]).rsplit("/", 1)[-1]
            state.linked[name.lower()] = linked_server_item(state.id, name, item["properties"])
        if seed.linked_servers:
            props["linkedServers"] = [{"id": item["id"]} for item in state.linked.values()]
        with self.lock:
            for conn in props.get("privateEndpointConnections") or ():
                pe = ((conn.get("properties") or {}).get("privateEndpoint") or {}).get("id")
                if pe:
                    self.private_endpoints.setdefault(pe.lower(), [])
            for group in seed.private_dns_zone_groups:
                pe_id, _, name = str(group["id"]).rpartition("/privateDnsZoneGroups/")
                item = {"name": name, "etag": 'W/"1"', **copy.deepcopy(dict(group))}
                self.private_endpoints.setdefault(pe_id.lower(), []).append(item)
            subnet_id = props.get("subnetId")
            if isinstance(subnet_id, str) and subnet_id:
                self.subnets[subnet_id.lower()] = subnet_body(subnet_id, seed.network_security_group)
            if seed.network_security_group is not None:
                nsg = copy.deepcopy(dict(seed.network_security_group))
                nsg.setdefault("name", str(nsg["id"]).rsplit("/", 1)[-1])
                nsg.setdefault("type", "Microsoft.Network/networkSecurityGroups")
                nsg["properties"].setdefault("provisioningState", "Succeeded")
                self.network_security_groups[str(nsg["id"]).lower()] = nsg
            if seed.policy_states:
                self.policy_states[state.id.lower()] = [copy.deepcopy(dict(r)) for r in seed.policy_states]
            for rule in seed.scheduled_query_rules:
                self.scheduled_query_rules[str(rule["id"]).lower()] = {
                    "type": "Microsoft.Insights/scheduledQueryRules", "name": str(rule["id"]).rsplit("/", 1)[-1],
                    **copy.deepcopy(dict(rule))}
            for alert in seed.metric_alerts:
                alert_id = alert.get("id") or (
                    f"/subscriptions/{seed.subscription_id}/resourceGroups/{seed.resource_group}"
                    f"/providers/Microsoft.Insights/metricAlerts/{alert['name']}"
                )
                self.metric_alerts[alert_id.lower()] = {
                    "type": "Microsoft.Insights/metricAlerts", **copy.deepcopy(dict(alert)), "id": alert_id}

    # ------------------------------------------------------------------------------------------ reads

    def find(self, subscription_id: str, resource_group: str, name: str) -> CacheState | None:
        key = (
            f"/subscriptions/{subscription_id}/resourcegroups/{resource_group}/providers/microsoft.cache/redis/{name}"
        ).lower()
        return self.caches.get(key)

    def observe(self, state: CacheState) -> dict[str, Any]:
        """A GET of the cache: what it shows now, then one step of its provisioning sequence or operation."""
        self.refresh(state)
        return observe(state, self._poll)

    def refresh(self, state: CacheState) -> None:
        """Finish the cache's operation if its time is up (no poll needed, as with ARM)."""
        op = state.operation
        if op is not None and not op.done and is_due(op, self.clock()):
            self._finish(op)

    def refresh_all(self) -> None:
        for state in self.caches.values():
            self.refresh(state)

    def _poll(self, op: Operation) -> None:
        op.polls_remaining -= 1
        if is_due(op, self.clock()):
            self._finish(op)

    def _finish(self, op: Operation) -> None:
        op.done = True
        cache = self.caches.get(op.cache_key)
        if cache is None or cache.operation is not op:
            return
        if op.fail:
            # As ARM shows a failed update: Failed on the read that ends it, the change never applied,
            # then Succeeded again so the cache can be written to.
            cache.sequence, cache.sequence_index = ["Failed", "Succeeded"], 0
            cache.set_provisioning_state("Failed")
            cache.after_operation = None
            return
        if op.apply is not None:
            op.apply(cache)
        self._settle(cache)

    # ------------------------------------------------------------------------------------------ LRO

    def begin_operation(self, state: CacheState, apply: Callable[[CacheState], None] | None = None) -> Operation:
        """Accept a change: the cache shows Updating with its old values until the operation's time is up."""
        op = Operation(
            id=str(uuid.uuid4()),
            cache_key=state.key,
            polls_remaining=state.lro_polls,
            not_before=self.clock() + state.lro_seconds,
            location=str(state.body.get("location", "")),
            apply=apply,
        )
        self.operations[op.id] = op
        state.operation = op
        state.sequence = None
        if state.lro_failures > 0:
            state.lro_failures -= 1
            op.fail = True
        state.set_provisioning_state("Updating")
        return op

    @staticmethod
    def _settle(cache: CacheState) -> None:
        """A finished operation: Succeeded, or first the states it leaves behind (e.g. ConfiguringAAD)."""
        if cache.after_operation:
            cache.sequence, cache.sequence_index = cache.after_operation, 0
            cache.set_provisioning_state(cache.sequence[0])
        else:
            cache.set_provisioning_state("Succeeded")
            cache.sequence = None
        cache.after_operation = None

    def poll_operation(self, op_id: str) -> tuple[Operation | None, CacheState | None]:
        op = self.operations.get(op_id)
        if op is None:
            return None, None
        if not op.done:
            self._poll(op)
        return op, self.caches.get(op.cache_key)

    def seconds_left(self, op: Operation) -> float:
        return max(0.0, op.not_before - self.clock())

    # ------------------------------------------------------------------------------------------ faults

    def take_fault(self, state: CacheState, method: str, resource: str) -> dict[str, Any] | None:
        """A status fault for the handler; presets are emulator.faults' own, taken before dispatch."""
        return take_fault(state.faults, method, resource, accept=lambda fault: "preset" not in fault)

    def register_scope(self, subscription_id: str, resource_group: str) -> None:
        """Make a seeded resource's subscription and resource group known to every API (they share them)."""
        with self.lock:
            self.resource_groups.add((subscription_id, resource_group.lower()))
            self.subscriptions.add(subscription_id)


def rule_item(cache_id: str, name: str, props: Mapping[str, Any]) -> dict[str, Any]:
    """A firewall rule as stored; every answer names it 'cache/rule' (emulator.redis_api._as_child)."""
    return {
        "id": f"{cache_id}/firewallRules/{name}",
        "name": name,
        "type": "Microsoft.Cache/Redis/firewallRules",
        "properties": {"startIP": props["startIP"], "endIP": props["endIP"]},
    }


def linked_server_item(cache_id: str, name: str, props: Mapping[str, Any]) -> dict[str, Any]:
    """A linked server as the LinkedServer_List API returns it (spec example RedisCacheLinkedServer_List)."""
    return {
        "id": f"{cache_id}/linkedServers/{name}",
        "name": name,
        "type": "Microsoft.Cache/Redis/linkedServers",
        "properties": {"provisioningState": "Succeeded", **copy.deepcopy(dict(props))},
    }


# Properties Azure Monitor answers on every diagnostic setting, null when unset (azure-cli recording
# test_monitor_diagnostic_settings_workspace.yaml; tests/conformance/fixtures/SOURCES.md).
_SETTING_DEFAULTS: Mapping[str, Any] = {
    "storageAccountId": None, "serviceBusRuleId": None, "workspaceId": None, "eventHubAuthorizationRuleId": None,
    "eventHubName": None, "metrics": [], "logs": [], "logAnalyticsDestinationType": None,
}


def setting_resource(resource_id: str, name: str, props: Mapping[str, Any]) -> dict[str, Any]:
    """A diagnostic setting as Azure Monitor answers it: the parent's id lower-cased, `location`, `kind`,
    `tags` and `identity` present as null, unset properties null."""
    return {
        "id": f"{resource_id.lower()}/providers/microsoft.insights/diagnosticSettings/{name}",
        "type": "Microsoft.Insights/diagnosticSettings",
        "name": name,
        "location": None,
        "kind": None,
        "tags": None,
        "properties": {**copy.deepcopy(dict(_SETTING_DEFAULTS)), **copy.deepcopy(dict(props))},
        "identity": None,
    }


def subnet_body(subnet_id: str, nsg: Mapping[str, Any] | None) -> dict[str, Any]:
    """A subnet GET body for a VNet-injected cache's subnetId: the fields the warden reads (the NSG
    reference is `{"id": ...}` as in ARM's Subnet model), nothing the fleet did not say."""
    props: dict[str, Any] = {"provisioningState": "Succeeded", "addressPrefix": "10.0.0.0/24"}
    if nsg is not None:
        props["networkSecurityGroup"] = {"id": nsg["id"]}
    return {
        "id": subnet_id,
        "name": subnet_id.rsplit("/", 1)[-1],
        "etag": 'W/"1"',
        "type": "Microsoft.Network/virtualNetworks/subnets",
        "properties": props,
    }
