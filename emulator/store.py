"""The emulator's state: caches, their children and long-running operations, behind one lock.

Completion of a long-running PATCH is deterministic: it is counted in polls (GETs of the cache or of the
operation URL), with an optional minimum duration for the demo and benchmarks, so tests never depend on
wall-clock timing.
"""

from __future__ import annotations

import copy
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .fleet import CacheSeed

DEFAULT_CATEGORIES: tuple[Mapping[str, Any], ...] = (
    {"name": "ConnectedClientList", "categoryType": "Logs", "categoryGroups": ["allLogs"]},
    {"name": "MSEntraAuthenticationAuditLog", "categoryType": "Logs", "categoryGroups": ["audit", "allLogs"]},
    {"name": "AllMetrics", "categoryType": "Metrics", "categoryGroups": []},
)


def _category(item: str | Mapping[str, Any]) -> dict[str, Any]:
    if isinstance(item, str):
        return {"name": item, "categoryType": "Logs", "categoryGroups": ["allLogs"]}
    return {"categoryType": "Logs", "categoryGroups": [], **item}


@dataclass
class Operation:
    id: str
    cache_key: str
    polls_remaining: int
    not_before: float
    done: bool = False


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

    @property
    def provisioning_state(self) -> str:
        return str(self.body.get("properties", {}).get("provisioningState", "Succeeded"))

    def set_provisioning_state(self, value: str) -> None:
        self.body.setdefault("properties", {})["provisioningState"] = value

    @property
    def location(self) -> str:
        return str(self.body.get("location", "")).replace(" ", "").lower()


@dataclass
class Store:
    """All mutable state. Every access from request threads goes through `lock`."""

    lro_polls: int = 1
    lro_seconds: float = 0.0
    clock: Callable[[], float] = time.monotonic
    lock: threading.RLock = field(default_factory=threading.RLock)
    caches: dict[str, CacheState] = field(default_factory=dict)
    operations: dict[str, Operation] = field(default_factory=dict)
    resource_groups: set[tuple[str, str]] = field(default_factory=set)
    subscriptions: set[str] = field(default_factory=set)

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
        sequence: list[str] | None = None
        if "busyForGets" in knobs:
            sequence = ["Updating"] * int(knobs["busyForGets"]) + ["Succeeded"]
        elif "provisioningSequence" in knobs:
            sequence = list(knobs["provisioningSequence"])
        state = CacheState(
            key=cache_id.lower(),
            id=cache_id,
            subscription_id=seed.subscription_id,
            resource_group=seed.resource_group,
            name=seed.name,
            body=body,
            rules=rules,
            settings=settings,
            categories=[_category(c) for c in knobs.get("offeredDiagnosticCategories", DEFAULT_CATEGORIES)],
            faults=[{"method": "*", "resource": "*", "times": 1, **f} for f in knobs.get("faults", ())],
            lro_polls=int(knobs.get("lroPolls", self.lro_polls)),
            lro_seconds=float(knobs.get("lroSeconds", self.lro_seconds)),
            sequence=sequence,
        )
        if sequence:
            state.set_provisioning_state(sequence[0])
        with self.lock:
            self.caches[state.key] = state
            self.resource_groups.add((seed.subscription_id, seed.resource_group.lower()))
            self.subscriptions.add(seed.subscription_id)
        return state

    # ------------------------------------------------------------------------------------------ reads

    def find(self, subscription_id: str, resource_group: str, name: str) -> CacheState | None:
        key = (
            f"/subscriptions/{subscription_id}/resourcegroups/{resource_group}/providers/microsoft.cache/redis/{name}"
        ).lower()
        return self.caches.get(key)

    def observe(self, state: CacheState) -> dict[str, Any]:
        """A GET of the cache: what it shows now, then one step of its provisioning sequence or operation."""
        op = state.operation
        if op is not None and not op.done:
            self._poll(op)
        body = copy.deepcopy(state.body)
        if state.sequence and (op is None or op.done):
            state.sequence_index = min(state.sequence_index + 1, len(state.sequence) - 1)
            state.set_provisioning_state(state.sequence[state.sequence_index])
        return body

    def _poll(self, op: Operation) -> None:
        op.polls_remaining -= 1
        if op.polls_remaining <= 0 and self.clock() >= op.not_before:
            op.done = True
            cache = self.caches.get(op.cache_key)
            if cache is not None:
                cache.set_provisioning_state("Succeeded")
                cache.sequence = None

    # ------------------------------------------------------------------------------------------ LRO

    def begin_operation(self, state: CacheState) -> Operation:
        """Mark the cache Updating until the configured number of polls (and seconds) have passed."""
        op = Operation(
            id=str(uuid.uuid4()),
            cache_key=state.key,
            polls_remaining=state.lro_polls,
            not_before=self.clock() + state.lro_seconds,
        )
        self.operations[op.id] = op
        state.operation = op
        state.sequence = None
        if op.polls_remaining <= 0 and op.not_before <= self.clock():
            op.done = True
            state.set_provisioning_state("Succeeded")
        else:
            state.set_provisioning_state("Updating")
        return op

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
        for fault in state.faults:
            if fault["times"] <= 0:
                continue
            if fault["method"] not in ("*", method) or fault["resource"] not in ("*", resource):
                continue
            fault["times"] -= 1
            return fault
        return None


def rule_item(cache_id: str, name: str, props: Mapping[str, Any]) -> dict[str, Any]:
    """A firewall rule as the list API returns it (the GET/PUT answers name it 'cache/rule')."""
    return {
        "id": f"{cache_id}/firewallRules/{name}",
        "name": name,
        "type": "Microsoft.Cache/Redis/firewallRules",
        "properties": {"startIP": props["startIP"], "endIP": props["endIP"]},
    }


def setting_resource(cache_id: str, name: str, props: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "id": f"{cache_id}/providers/microsoft.insights/diagnosticSettings/{name}",
        "type": "Microsoft.Insights/diagnosticSettings",
        "name": name,
        "properties": copy.deepcopy(dict(props)),
    }
