"""Azure Managed Redis fleet entries for the enterprise tests (and a template for the demo's)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from emulator.principals import SUBSCRIPTION_ID

WORKSPACE = (
    f"/subscriptions/{SUBSCRIPTION_ID}/resourceGroups/rg-monitoring/providers/"
    "Microsoft.OperationalInsights/workspaces/law-warden"
)
PE_ID = f"/subscriptions/{SUBSCRIPTION_ID}/resourceGroups/rg-net/providers/Microsoft.Network/privateEndpoints/pe-amr"


def cluster_id(name: str, resource_group: str = "rg-payments", subscription_id: str = SUBSCRIPTION_ID) -> str:
    return (f"/subscriptions/{subscription_id}/resourceGroups/{resource_group}/providers/"
            f"Microsoft.Cache/redisEnterprise/{name}")


def sample_cluster(
    name: str,
    *,
    resource_group: str = "rg-payments",
    subscription_id: str = SUBSCRIPTION_ID,
    location: str = "UK South",
    properties: Mapping[str, Any] | None = None,
    database: Mapping[str, Any] | None = None,
    diagnostic_settings: Sequence[Mapping[str, Any]] = (),
    assignments: Sequence[Mapping[str, Any]] = (),
    knobs: Mapping[str, Any] | None = None,
    with_database: bool = True,
) -> dict[str, Any]:
    """A fleet entry shaped like a GET of a Balanced_B5 cluster with its `default` database."""
    props: dict[str, Any] = {
        "provisioningState": "Succeeded",
        "resourceState": "Running",
        "hostName": f"{name}.uksouth.redis.azure.net",
        "redisVersion": "7.4",
        "highAvailability": "Enabled",
        "minimumTlsVersion": "1.2",
        "publicNetworkAccess": "Enabled",
        "privateEndpointConnections": [],
    }
    props.update(properties or {})
    db_props: dict[str, Any] = {
        "provisioningState": "Succeeded",
        "resourceState": "Running",
        "clientProtocol": "Encrypted",
        "port": 10000,
        "clusteringPolicy": "OSSCluster",
        "evictionPolicy": "VolatileLRU",
        "redisVersion": "7.4",
        "deferUpgrade": "NotDeferred",
        "accessKeysAuthentication": "Disabled",
    }
    db_props.update(database or {})
    entry: dict[str, Any] = {
        "id": cluster_id(name, resource_group, subscription_id),
        "name": name,
        "type": "Microsoft.Cache/redisEnterprise",
        "location": location,
        "kind": "v2",
        "sku": {"name": "Balanced_B5"},
        "tags": {},
        "properties": props,
    }
    if with_database:
        db: dict[str, Any] = {"name": "default", "properties": db_props}
        if diagnostic_settings:
            db["diagnosticSettings"] = [dict(s) for s in diagnostic_settings]
        if assignments:
            db["accessPolicyAssignments"] = [dict(a) for a in assignments]
        entry["databases"] = [db]
    if knobs:
        entry["x-emulator"] = dict(knobs)
    return entry


def logs_to_workspace(name: str = "ops", workspace: str = WORKSPACE) -> dict[str, Any]:
    return {"name": name, "properties": {"workspaceId": workspace,
                                         "logs": [{"category": "ConnectionEvents", "enabled": True}]}}


def assignment(name: str = "appreader", object_id: str = "7c2b9a40-0d5e-4f1b-9e55-2a8c0f3d6b11") -> dict[str, Any]:
    return {"name": name, "properties": {"accessPolicyName": "default", "user": {"objectId": object_id}}}
