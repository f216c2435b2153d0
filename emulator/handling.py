"""Request handling that Microsoft.Cache/redis and Microsoft.Cache/redisEnterprise answer the same way.

ARM checks scopes, pages lists and words an injected fault identically for both resource providers, so
the two handlers call these instead of keeping copies that could drift apart.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping
from typing import Any, Protocol
from urllib.parse import urlencode

from . import errors
from .calls import Call, Reply
from .errors import ArmHttpError
from .store import Store


class Listed(Protocol):
    """A top-level resource as the list-by-subscription and list-by-resource-group APIs see it."""

    subscription_id: str
    resource_group: str
    body: dict[str, Any]


def bodies_in_scope(states: Iterable[Listed], sub: str, rg: str | None = None) -> list[dict[str, Any]]:
    """Copies of the bodies in the subscription (and resource group, if given), sorted by id as ARM lists
    them; call it under the store's lock."""
    items = [copy.deepcopy(s.body) for s in states
             if s.subscription_id == sub and (rg is None or s.resource_group.lower() == rg.lower())]
    return sorted(items, key=lambda b: b["id"].lower())


def require_scope(store: Store, sub: str, rg: str | None = None) -> str:
    """The lower-cased subscription id, or ARM's 404 for the first scope (subscription, group) not known."""
    sub = sub.lower()
    if sub not in store.subscriptions:
        raise errors.subscription_not_found(sub)
    if rg is not None and (sub, rg.lower()) not in store.resource_groups:
        raise errors.resource_group_not_found(rg)
    return sub


def injected_error(fault: Mapping[str, Any], method: str, resource: str) -> ArmHttpError:
    """The ARM error a status fault (`x-emulator.faults` without a preset) stands for."""
    headers = {"Retry-After": str(fault["retryAfter"])} if "retryAfter" in fault else {}
    return ArmHttpError(
        fault["status"],
        fault.get("code", "InjectedFault"),
        fault.get("message", f"Fault injected by the emulator for {method} {resource}."),
        headers=headers,
    )


def page(call: Call, items: list[dict[str, Any]], page_size: int) -> Reply:
    """One page of a list, with a `nextLink` carrying `$skiptoken` while more remain: absolute, on the host and
    path the list was asked at, keeping the request's other query parameters, as the recorded ARM nextLink
    does (tests/conformance/fixtures/arm_list_next_link.json)."""
    try:
        start = int(call.query.get("$skiptoken", "0"))
    except ValueError as exc:
        raise errors.bad_request("The $skiptoken is invalid.", "$skiptoken") from exc
    body: dict[str, Any] = {"value": items[start : start + page_size]}
    if start + page_size < len(items):
        kept = {k: v for k, v in call.query.items() if k != "$skiptoken"}
        query = urlencode({**kept, "$skiptoken": start + page_size})
        body["nextLink"] = f"{call.base_url}{call.path}?{query}"
    return Reply(200, body)


def retry_after(seconds_left: float, floor: int) -> int:
    """The Retry-After of a running operation: its remaining time rounded up, never below `floor`."""
    return max(floor, int(seconds_left + 0.999))


def name_connections(resource_id: str, connections: list[dict[str, Any]], type_name: str) -> list[dict[str, Any]]:
    """The resource body's inline private endpoint connections (a copy, changed in place), each given the
    id, name and type the list API shows."""
    for conn in connections:
        conn_name = conn.get("name") or str(conn.get("id", "")).rsplit("/", 1)[-1]
        conn.setdefault("id", f"{resource_id}/privateEndpointConnections/{conn_name}")
        conn.setdefault("name", conn_name)
        conn.setdefault("type", type_name)
    return connections
