"""The emulator's Azure Managed Redis state: clusters, their databases (with diagnostic settings and access
policy assignments) and long-running operations.

It shares the redis store's lock, clock, subscriptions and resource groups, so a resource group holding only
a cluster is known to both APIs and one lock orders every change. Completion of a PATCH is counted in polls
(GETs of the resource or of its operation status), with an optional minimum duration, as for redis, so tests
never depend on wall-clock timing. While it runs, the resource shows `provisioningState` and `resourceState`
`Updating`; once done, `Succeeded` and `Running` (recorded: tests/conformance/fixtures/amr_database_update_lro.json).
"""

from __future__ import annotations

import copy
import secrets
import time
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from .enterprise_fleet import ClusterSeed
from .provisioning import (
    is_due,
    observe,
    offered_category,
    provisioning_sequence,
    seeded_faults,
    take_fault,
)
from .provisioning import provisioning_state as _provisioning
from .provisioning import set_provisioning_state as _set_provisioning
from .store import Store, setting_resource

DEFAULT_DATABASE_CATEGORIES: tuple[Mapping[str, Any], ...] = (
    {"name": "ConnectionEvents", "categoryType": "Logs", "categoryGroups": ["audit", "allLogs"]},
    {"name": "AllMetrics", "categoryType": "Metrics", "categoryGroups": []},
)


@dataclass
class EnterpriseOperation:
    id: str
    cluster_key: str
    database: str | None  # None: the cluster itself
    polls_remaining: int
    not_before: float
    started: str
    location: str = ""  # the cluster's display location ('Central US EUAP'), as the status URL names it
    # The status URL's opaque signed parameters (t, c, s, h): a client must send `t` back unchanged.
    token: str = field(default_factory=lambda: str(time.time_ns()))
    signature: str = field(default_factory=lambda: secrets.token_urlsafe(16))
    done: bool = False
    ended: str | None = None


@dataclass
class DatabaseState:
    """One database; `id`, `settings` and `categories` are what the diagnostics API works on."""

    id: str
    name: str
    body: dict[str, Any]
    settings: dict[str, dict[str, Any]]
    categories: list[dict[str, Any]]
    assignments: list[dict[str, Any]]
    operation: EnterpriseOperation | None = None

    @property
    def provisioning_state(self) -> str:
        return _provisioning(self.body)


@dataclass
class ClusterState:
    key: str
    id: str
    subscription_id: str
    resource_group: str
    name: str
    body: dict[str, Any]
    databases: dict[str, DatabaseState]  # lower-cased name -> database
    faults: list[dict[str, Any]]
    lro_polls: int
    lro_seconds: float
    sequence: list[str] | None = None
    sequence_index: int = 0
    operation: EnterpriseOperation | None = None
    hostile: dict[str, Any] = field(default_factory=dict)  # knob `hostile` (emulator.hostile)

    @property
    def provisioning_state(self) -> str:
        return _provisioning(self.body)

    @property
    def location(self) -> str:
        return str(self.body.get("location", "")).replace(" ", "").lower()


@dataclass
class EnterpriseStore:
    base: Store
    clusters: dict[str, ClusterState] = field(default_factory=dict)
    operations: dict[str, EnterpriseOperation] = field(default_factory=dict)

    @property
    def lock(self) -> Any:
        return self.base.lock

    def load(self, seeds: Iterable[ClusterSeed]) -> None:
        with self.lock:
            for seed in seeds:
                self.add(seed)

    def add(self, seed: ClusterSeed) -> ClusterState:
        body = copy.deepcopy(dict(seed.body))
        _set_provisioning(body, body.get("properties", {}).get("provisioningState", "Succeeded"))
        knobs = seed.knobs
        cluster_id = body["id"]
        offered = knobs.get("offeredDiagnosticCategories", DEFAULT_DATABASE_CATEGORIES)
        categories = [offered_category(c) for c in offered]
        databases = {}
        for db in seed.databases:
            db_body = copy.deepcopy(dict(db.body))
            _set_provisioning(db_body, db_body.get("properties", {}).get("provisioningState", "Succeeded"))
            db_id = db_body["id"]
            databases[db.name.lower()] = DatabaseState(
                id=db_id,
                name=db.name,
                body=db_body,
                settings={s["name"].lower(): setting_resource(db_id, s["name"], s["properties"])
                          for s in db.diagnostic_settings},
                categories=copy.deepcopy(categories),
                assignments=[_assignment(db_id, a) for a in db.access_policy_assignments],
            )
        sequence = provisioning_sequence(knobs)
        state = ClusterState(
            key=cluster_id.lower(),
            id=cluster_id,
            subscription_id=seed.subscription_id,
            resource_group=seed.resource_group,
            name=seed.name,
            body=body,
            databases=databases,
            faults=seeded_faults(knobs),
            lro_polls=int(knobs.get("lroPolls", self.base.lro_polls)),
            lro_seconds=float(knobs.get("lroSeconds", self.base.lro_seconds)),
            sequence=sequence,
            hostile=dict(knobs.get("hostile", {})),
        )
        if sequence:
            _set_provisioning(state.body, sequence[0])
        with self.lock:
            self.clusters[state.key] = state
            self.base.register_scope(seed.subscription_id, seed.resource_group)
        return state

    def find(self, subscription_id: str, resource_group: str, name: str) -> ClusterState | None:
        key = (f"/subscriptions/{subscription_id}/resourcegroups/{resource_group}"
               f"/providers/microsoft.cache/redisenterprise/{name}").lower()
        return self.clusters.get(key)

    # ------------------------------------------------------------------------------------------ GETs

    def observe_cluster(self, state: ClusterState) -> dict[str, Any]:
        """A GET of the cluster: what it shows now, then one step of its sequence or running operation."""
        return observe(state, self._poll)

    def observe_database(self, db: DatabaseState) -> dict[str, Any]:
        if db.operation is not None and not db.operation.done:
            self._poll(db.operation)
        return copy.deepcopy(db.body)

    # ------------------------------------------------------------------------------------------ LRO

    def begin(self, state: ClusterState, database: DatabaseState | None) -> EnterpriseOperation:
        clock = self.base.clock
        op = EnterpriseOperation(
            id=str(uuid.uuid4()),
            cluster_key=state.key,
            database=database.name.lower() if database else None,
            polls_remaining=state.lro_polls,
            not_before=clock() + state.lro_seconds,
            started=_now(),
            location=str(state.body.get("location", "")),
        )
        self.operations[op.id] = op
        target = database.body if database else state.body
        if database:
            database.operation = op
        else:
            state.operation = op
            state.sequence = None
        if is_due(op, clock()):
            self._finish(op)
        else:
            _set_states(target, "Updating", "Updating")
        return op

    def poll(self, op_id: str) -> EnterpriseOperation | None:
        op = self.operations.get(op_id)
        if op is not None and not op.done:
            self._poll(op)
        return op

    def seconds_left(self, op: EnterpriseOperation) -> float:
        return max(0.0, op.not_before - self.base.clock())

    def _poll(self, op: EnterpriseOperation) -> None:
        op.polls_remaining -= 1
        if is_due(op, self.base.clock()):
            self._finish(op)

    def _finish(self, op: EnterpriseOperation) -> None:
        op.done, op.ended = True, _now()
        cluster = self.clusters.get(op.cluster_key)
        if cluster is None:
            return
        if op.database is None:
            _set_states(cluster.body, "Succeeded", "Running")
            cluster.sequence = None
        elif op.database in cluster.databases:
            _set_states(cluster.databases[op.database].body, "Succeeded", "Running")

    # ------------------------------------------------------------------------------------------ faults

    @staticmethod
    def take_fault(state: ClusterState, method: str, resource: str) -> dict[str, Any] | None:
        """Every cluster fault is the handler's: emulator.faults applies presets to caches only."""
        return take_fault(state.faults, method, resource, accept=lambda fault: True)


def _assignment(database_id: str, item: Mapping[str, Any]) -> dict[str, Any]:
    props = copy.deepcopy(dict(item["properties"]))
    props.setdefault("provisioningState", "Succeeded")
    return {
        "id": f"{database_id}/accessPolicyAssignments/{item['name']}",
        "name": item["name"],
        "type": "Microsoft.Cache/redisEnterprise/databases/accessPolicyAssignments",
        "properties": props,
    }


def _set_states(body: dict[str, Any], provisioning: str, resource: str) -> None:
    """`provisioningState`, and `resourceState` where the resource shows one (every recorded AMR body does)."""
    _set_provisioning(body, provisioning)
    props = body.setdefault("properties", {})
    if "resourceState" in props:
        props["resourceState"] = resource


def _now() -> str:
    """ARM's operation timestamps: seven fractional digits and '+00:00' ('2025-04-30T14:01:06.8882643+00:00')."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f") + "0+00:00"
