"""Microsoft.Cache/redisEnterprise (api-version 2025-07-01, Azure Managed Redis): clusters, databases,
private endpoint connections, access policy assignments, and diagnostic settings on a database.

PATCHes of a cluster or a database are long-running. The default shape, `recorded`, is what recorded real
updates of this resource provider show (azure-cli-extensions redisenterprise recordings, kept in
tests/conformance/fixtures/amr_*_update_lro.json; no recording of a PATCH exists, the recorded updates are
PUTs of the same resources): 200 with the resource, `provisioningState` and `resourceState` `Updating`, an
`Azure-AsyncOperation` at `/subscriptions/{s}/providers/Microsoft.Cache/locations/{Display%20Name}/
operationsStatus/{id}` carrying ARM's signed parameters (t, c, s, h) and a `Location` at the database itself
(a database) or at `{cluster}/operationresults/{id}` (a cluster). The status URL answers `Pending` (a
database, with `endTime` 0001-01-01) or `InProgress` (a cluster) until the operation is done, then
`Succeeded` with its `endTime`. The recorded cluster update answered 201, which a PATCH may not (the spec's
`RedisEnterprise_Update` allows 200 and 202 and the SDK refuses anything else), so a PATCH gets 200.
`updating` is the spec's other answer: 200 with `provisioningState: Updating` and no status URL, finished by
GETs of the resource. Bodies are validated against the vendored spec; refusals ARM documents for this type
are reproduced (see emulator/README.md, "ARM rejects X"). Diagnostic settings reuse `DiagnosticsApi`
through a small adapter that presents a database as its target.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlencode

from . import errors, hostile, lro_census
from .calls import Call, Reply, WriteEvent
from .diagnostics_api import DiagnosticsApi
from .enterprise_state import ClusterState, DatabaseState, EnterpriseOperation, EnterpriseStore
from .errors import ArmHttpError
from .handling import bodies_in_scope, injected_error, name_connections, page, require_scope, retry_after
from .routes import Route, _compile
from .spec import REFERENCE, Spec, parse_json

ENTERPRISE_SPEC = REFERENCE / "redisenterprise" / "redisenterprise.json"
LRO_SHAPES = ("recorded", "updating")
RETIRED_TLS = ("1.0", "1.1")
# DatabaseProperties fields whose x-ms-mutability is read/create only: a PATCH may not change them.
CREATE_ONLY_DATABASE_FIELDS = ("port", "modules", "geoReplication")
_CLUSTER_TYPE = "Microsoft.Cache/redisEnterprise"
NOT_ENDED = "0001-01-01T00:00:00+00:00"  # the endTime ARM records for a database operation still Pending


@dataclass
class EnterpriseApi:
    store: EnterpriseStore
    spec: Spec
    lro_shape: str = "recorded"
    page_size: int = 2
    retry_after: int | None = 0

    def __post_init__(self) -> None:
        if self.lro_shape not in LRO_SHAPES:
            raise ValueError(f"lro_shape must be one of {LRO_SHAPES}, not {self.lro_shape!r}")

    # ------------------------------------------------------------------------------------------ lookups

    def cluster(self, sub: str, rg: str, name: str, *, method: str, resource: str) -> ClusterState:
        sub = require_scope(self.store.base, sub, rg)
        state = self.store.find(sub, rg, name)
        if state is None:
            raise errors.not_found(f"{_CLUSTER_TYPE}/{name}", rg)
        fault = self.store.take_fault(state, method, resource)
        if fault is not None:
            raise injected_error(fault, method, resource)
        return state

    def database(self, state: ClusterState, db: str, rg: str) -> DatabaseState:
        found = state.databases.get(db.lower())
        if found is None:
            raise errors.not_found(f"{_CLUSTER_TYPE}/{state.name}/databases/{db}", rg)
        return found

    def _page(self, call: Call, items: list[dict[str, Any]]) -> Reply:
        return page(call, items, self.page_size)

    # ------------------------------------------------------------------------------------------ clusters

    def list_by_subscription(self, call: Call, sub: str) -> Reply:
        sub = require_scope(self.store.base, sub)
        with self.store.lock:
            items = bodies_in_scope(self.store.clusters.values(), sub)
            knobs = [s.hostile for s in self.store.clusters.values() if s.subscription_id == sub]
        return hostile.list_page(call, items, knobs, self.page_size)

    def list_by_resource_group(self, call: Call, sub: str, rg: str) -> Reply:
        sub = require_scope(self.store.base, sub, rg)
        with self.store.lock:
            items = bodies_in_scope(self.store.clusters.values(), sub, rg)
            knobs = [s.hostile for s in self.store.clusters.values()
                     if s.subscription_id == sub and s.resource_group.lower() == rg.lower()]
        return hostile.list_page(call, items, knobs, self.page_size)

    def get(self, call: Call, sub: str, rg: str, name: str) -> Reply:
        with self.store.lock:
            state = self.cluster(sub, rg, name, method="GET", resource="cluster")
            return Reply(200, self.store.observe_cluster(state))

    def patch(self, call: Call, sub: str, rg: str, name: str) -> Reply:
        raw = parse_json(call.body)
        props = raw.get("properties") if isinstance(raw, dict) else None
        if isinstance(props, dict) and "publicNetworkAccess" in props and props["publicNetworkAccess"] is None:
            raise errors.bad_request(
                "publicNetworkAccess cannot be set to null: only 'Enabled' or 'Disabled' can be set (null is "
                "returned only for clusters created with an API version older than 2025-07-01).",
                "properties.publicNetworkAccess",
            )
        update = self.spec.validate("ClusterUpdate", raw)
        tls = update.get("properties", {}).get("minimumTlsVersion")
        if tls in RETIRED_TLS:
            raise errors.bad_request(
                f"Minimum TLS version '{tls}' is not supported: TLS 1.0 and 1.1 are obsolete for Azure Managed "
                "Redis; use '1.2'.",
                "properties.minimumTlsVersion",
            )
        with self.store.lock:
            state = self.cluster(sub, rg, name, method="PATCH", resource="cluster")
            if state.provisioning_state != "Succeeded":
                raise errors.busy(state.id)
            props_now = state.body.setdefault("properties", {})
            props_now.update(update.get("properties", {}))
            for key in ("sku", "identity", "tags"):
                if key in update:
                    state.body[key] = update[key]
            op = self.store.begin(state, None)
            body = _accepted(state.body)
        return self._lro(call, state, op, body, "Microsoft.Cache/redisEnterprise/write", location=(
            f"{call.base_url}{state.id}/operationresults/{op.id}?{self._signed_query(call, op)}"))

    def _lro(self, call: Call, state: ClusterState, op: EnterpriseOperation, body: dict[str, Any],
             operation_name: str, *, location: str) -> Reply:
        event = WriteEvent(call.path, operation_name, delete=False)
        lro_census.note_shaped_answer()
        if self.lro_shape == "updating":
            return Reply(200, body, event=event)
        status = (f"{call.base_url}/subscriptions/{state.subscription_id}/providers/Microsoft.Cache/locations/"
                  f"{quote(op.location)}/operationsStatus/{op.id}?{self._signed_query(call, op)}")
        headers = {"Azure-AsyncOperation": status, "Location": location}
        if self.retry_after is not None:
            headers["Retry-After"] = str(retry_after(self.store.seconds_left(op), self.retry_after))
        return Reply(200, body, headers=headers, event=event)

    @staticmethod
    def _signed_query(call: Call, op: EnterpriseOperation) -> str:
        return urlencode({"api-version": call.query["api-version"], "t": op.token, "c": op.signature,
                          "s": op.signature, "h": op.signature})

    def operation_status(self, call: Call, sub: str, location: str, op_id: str) -> Reply:
        """`locations/{loc}/operationsStatus/{id}`: the body recorded ARM answers (id, name, status, startTime,
        endTime), `Pending` for a database and `InProgress` for a cluster while it runs."""
        with self.store.lock:
            op = self.store.poll(op_id)
            if op is None or op.cluster_key.split("/")[2] != sub.lower() or op.token != call.query.get("t"):
                raise ArmHttpError(404, "NotFound", f"The operation '{op_id}' was not found.")
            if op.done:
                status, ended = "Succeeded", op.ended
            elif op.database is not None:
                status, ended = "Pending", NOT_ENDED
            else:
                status, ended = "InProgress", op.started  # recorded: an endTime ~1 s after startTime
            body: dict[str, Any] = {
                "id": f"/subscriptions/{sub}/providers/Microsoft.Cache/locations/{op.location}/operationsStatus/"
                      f"{op.id}",
                "name": op.id,
                "status": status,
                "startTime": op.started,
                "endTime": ended,
            }
        return Reply(200, body)

    # ------------------------------------------------------------------------------------------ databases

    def list_databases(self, call: Call, sub: str, rg: str, name: str) -> Reply:
        with self.store.lock:
            state = self.cluster(sub, rg, name, method="GET", resource="databases")
            items = [copy.deepcopy(d.body) for d in state.databases.values()]
            return hostile.database_page(call, state.id, sorted(items, key=lambda b: b["name"].lower()),
                                         state.hostile, self.page_size)

    def get_database(self, call: Call, sub: str, rg: str, name: str, db: str) -> Reply:
        with self.store.lock:
            state = self.cluster(sub, rg, name, method="GET", resource="databases")
            return Reply(200, self.store.observe_database(self.database(state, db, rg)))

    def patch_database(self, call: Call, sub: str, rg: str, name: str, db: str) -> Reply:
        raw = parse_json(call.body)
        props = raw.get("properties") if isinstance(raw, dict) else None
        for field in CREATE_ONLY_DATABASE_FIELDS:
            if isinstance(props, dict) and field in props:
                raise errors.bad_request(
                    f"The property '{field}' can only be set when the database is created.", f"properties.{field}")
        update = self.spec.validate("DatabaseUpdate", raw)
        with self.store.lock:
            state = self.cluster(sub, rg, name, method="PATCH", resource="databases")
            database = self.database(state, db, rg)
            if state.provisioning_state != "Succeeded" or database.provisioning_state != "Succeeded":
                raise errors.busy(database.id)
            new = update.get("properties", {})
            current = database.body.setdefault("properties", {})
            policy = new.get("clusteringPolicy")
            if policy is not None and policy != current.get("clusteringPolicy", "OSSCluster") \
                    and current.get("clusteringPolicy", "OSSCluster") != "NoCluster":
                raise errors.bad_request(
                    "clusteringPolicy can be updated only when the current value is NoCluster; "
                    f"'{current.get('clusteringPolicy', 'OSSCluster')}' cannot be changed without deleting "
                    "the database.",
                    "properties.clusteringPolicy",
                )
            current.update(new)
            op = self.store.begin(state, database)
            body = _accepted(database.body)
        return self._lro(call, state, op, body, "Microsoft.Cache/redisEnterprise/databases/write", location=(
            f"{call.base_url}{database.id}?{urlencode({'api-version': call.query['api-version']})}"))

    # ------------------------------------------------------------------------------------------ children

    def list_private_endpoint_connections(self, call: Call, sub: str, rg: str, name: str) -> Reply:
        with self.store.lock:
            state = self.cluster(sub, rg, name, method="GET", resource="privateEndpointConnections")
            inline = copy.deepcopy(state.body.get("properties", {}).get("privateEndpointConnections", []))
        return Reply(200, {"value": name_connections(state.id, inline, f"{_CLUSTER_TYPE}/privateEndpointConnections")})

    def list_access_policy_assignments(self, call: Call, sub: str, rg: str, name: str, db: str) -> Reply:
        with self.store.lock:
            state = self.cluster(sub, rg, name, method="GET", resource="accessPolicyAssignments")
            items = [copy.deepcopy(a) for a in self.database(state, db, rg).assignments]
        return self._page(call, sorted(items, key=lambda a: a["name"].lower()))


def _accepted(body: dict[str, Any]) -> dict[str, Any]:
    """The answer to an accepted update: the resource with the change, `Updating` in both states (recorded,
    even when the emulator's operation is already over by the next request)."""
    out = copy.deepcopy(body)
    props = out.setdefault("properties", {})
    props["provisioningState"] = "Updating"
    if "resourceState" in props:
        props["resourceState"] = "Updating"
    return out


class DatabaseTargets:
    """Presents a database to `DiagnosticsApi` the way `RedisApi` presents a cache: `store.lock` and
    `cache(sub, rg, "cluster/database", method=, resource=)` returning an object with `id`, `settings` and
    `categories`."""

    def __init__(self, api: EnterpriseApi) -> None:
        self.api = api
        self.store = api.store

    def cache(self, sub: str, rg: str, name: str, *, method: str, resource: str) -> DatabaseState:
        cluster_name, db = name.split("/", 1)
        state = self.api.cluster(sub, rg, cluster_name, method=method, resource=resource)
        return self.api.database(state, db, rg)


class _DatabaseDiagnostics:
    """Route handlers with the (cluster, database) path groups folded into the adapter's name."""

    def __init__(self, inner: DiagnosticsApi) -> None:
        self.inner = inner

    def list(self, call: Call, sub: str, rg: str, name: str, db: str) -> Reply:
        return self.inner.list(call, sub, rg, f"{name}/{db}")

    def get(self, call: Call, sub: str, rg: str, name: str, db: str, setting: str) -> Reply:
        return self.inner.get(call, sub, rg, f"{name}/{db}", setting)

    def put(self, call: Call, sub: str, rg: str, name: str, db: str, setting: str) -> Reply:
        return self.inner.put(call, sub, rg, f"{name}/{db}", setting)

    def delete(self, call: Call, sub: str, rg: str, name: str, db: str, setting: str) -> Reply:
        return self.inner.delete(call, sub, rg, f"{name}/{db}", setting)

    def categories(self, call: Call, sub: str, rg: str, name: str, db: str) -> Reply:
        return self.inner.categories(call, sub, rg, f"{name}/{db}")


_SUB = r"/subscriptions/(?P<sub>[^/]+)"
_RG = _SUB + r"/resourceGroups/(?P<rg>[^/]+)"
_CLUSTER = _RG + r"/providers/Microsoft\.Cache/redisEnterprise/(?P<name>[^/]+)"
_DB = _CLUSTER + r"/databases/(?P<db>[^/]+)"
_DS = _DB + r"/providers/Microsoft\.Insights"


def enterprise_routes(api: EnterpriseApi, diagnostics_spec: Spec) -> list[Route]:
    """The redisEnterprise routes, appended to the router's list."""
    versions = (api.spec.api_version,)
    ds_versions = (diagnostics_spec.api_version,)
    diag = _DatabaseDiagnostics(DiagnosticsApi(DatabaseTargets(api), diagnostics_spec))  # type: ignore[arg-type]
    kind = "redisEnterprise"
    return [
        Route(_compile(_SUB + r"/providers/Microsoft\.Cache/redisEnterprise"), {"GET": api.list_by_subscription},
              versions, kind),
        Route(_compile(_RG + r"/providers/Microsoft\.Cache/redisEnterprise"), {"GET": api.list_by_resource_group},
              versions, kind),
        Route(_compile(_SUB + r"/providers/Microsoft\.Cache/locations/(?P<location>[^/]+)"
                       r"/operationsStatus/(?P<op_id>[^/]+)"),
              {"GET": api.operation_status}, versions, "locations/operationsStatus"),
        Route(_compile(_CLUSTER), {"GET": api.get, "PATCH": api.patch}, versions, kind),
        Route(_compile(_CLUSTER + "/databases"), {"GET": api.list_databases}, versions, kind + "/databases"),
        Route(_compile(_DB), {"GET": api.get_database, "PATCH": api.patch_database}, versions, kind + "/databases"),
        Route(_compile(_DB + "/accessPolicyAssignments"), {"GET": api.list_access_policy_assignments}, versions,
              kind + "/databases/accessPolicyAssignments"),
        Route(_compile(_CLUSTER + "/privateEndpointConnections"), {"GET": api.list_private_endpoint_connections},
              versions, kind + "/privateEndpointConnections"),
        Route(_compile(_DS + "/diagnosticSettings"), {"GET": diag.list}, ds_versions, "diagnosticSettings"),
        Route(_compile(_DS + r"/diagnosticSettings/(?P<setting>[^/]+)"),
              {"GET": diag.get, "PUT": diag.put, "DELETE": diag.delete}, ds_versions, "diagnosticSettings"),
        Route(_compile(_DS + "/diagnosticSettingsCategories"), {"GET": diag.categories}, ds_versions,
              "diagnosticSettingsCategories"),
    ]


def load_enterprise_spec() -> Spec:
    return Spec(ENTERPRISE_SPEC)
