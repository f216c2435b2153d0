"""Microsoft.Cache/redis (api-version 2024-11-01): caches, firewall rules, private endpoint connections.

Handlers get the store and a parsed `Call`, and either return a `Reply` or raise `ArmHttpError` with ARM's
code and wording. The PATCH is a long-running operation. Its default shape, `recorded`, is the one recorded
real traffic shows (azure-cli `test_redis_cache_update.yaml`, api 2024-11-01; tests/conformance): 202 with
`Azure-AsyncOperation` and `Location` both at
`/subscriptions/{s}/providers/Microsoft.Cache/locations/{Display%20Name}/asyncOperations/{id}`, a body with
`provisioningState: Updating` and the OLD values, polls answering `{"status": "InProgress"}` until the
operation's time is up, then `Succeeded`; only then does a GET show the new values. `updating` is the other
answer the spec allows (200 with `provisioningState: Updating`, same old values, finished by time).
"""

from __future__ import annotations

import copy
import ipaddress
import re
import secrets
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlencode

from . import errors, hostile, lro_census
from .calls import Call, Reply, WriteEvent
from .errors import ArmHttpError
from .handling import bodies_in_scope, injected_error, name_connections, page, require_scope, retry_after
from .spec import Spec, parse_json
from .store import CacheState, Store, rule_item

LRO_SHAPES = ("recorded", "updating")
RULE_NAME = re.compile(r"^\w+$", re.ASCII)
# Redis refuses to change these together in one request (az-cli #20997: publicNetworkAccess + identity;
# design section 4: redisVersion + publicNetworkAccess).
EXCLUSIVE_UPDATES = ("properties.publicNetworkAccess", "identity", "properties.redisVersion")
RETIRED_TLS = ("1.0", "1.1")


@dataclass
class RedisApi:
    store: Store
    spec: Spec
    lro_shape: str = "recorded"
    page_size: int = 2
    retry_after: int | None = 0  # None: no Retry-After header, exactly as the recorded 202
    busy_retry_after: int | None = None

    def __post_init__(self) -> None:
        if self.lro_shape not in LRO_SHAPES:
            raise ValueError(f"lro_shape must be one of {LRO_SHAPES}, not {self.lro_shape!r}")
        if self.page_size < 1:
            raise ValueError("page_size must be at least 1")

    # ------------------------------------------------------------------------------------------ lookups

    def cache(self, sub: str, rg: str, name: str, *, method: str, resource: str) -> CacheState:
        """The cache, or ARM's 404 for the first missing scope; injected faults fire here."""
        sub = require_scope(self.store, sub, rg)
        state = self.store.find(sub, rg, name)
        if state is None:
            raise errors.not_found(f"Microsoft.Cache/Redis/{name}", rg)
        fault = self.store.take_fault(state, method, resource)
        if fault is not None:
            raise injected_error(fault, method, resource)
        return state

    def _page(self, call: Call, items: list[dict[str, Any]]) -> Reply:
        return page(call, items, self.page_size)

    # ------------------------------------------------------------------------------------------ caches

    def list_by_subscription(self, call: Call, sub: str) -> Reply:
        sub = require_scope(self.store, sub)
        with self.store.lock:
            self.store.refresh_all()
            items = bodies_in_scope(self.store.caches.values(), sub)
            knobs = [s.hostile for s in self.store.caches.values() if s.subscription_id == sub]
        return hostile.list_page(call, items, knobs, self.page_size)

    def list_by_resource_group(self, call: Call, sub: str, rg: str) -> Reply:
        sub = require_scope(self.store, sub, rg)
        with self.store.lock:
            self.store.refresh_all()
            items = bodies_in_scope(self.store.caches.values(), sub, rg)
            knobs = [s.hostile for s in self.store.caches.values()
                     if s.subscription_id == sub and s.resource_group.lower() == rg.lower()]
        return hostile.list_page(call, items, knobs, self.page_size)

    def get(self, call: Call, sub: str, rg: str, name: str) -> Reply:
        with self.store.lock:
            state = self.cache(sub, rg, name, method="GET", resource="cache")
            return Reply(200, hostile.cache_body(call, self.store.observe(state), state.hostile))

    def patch(self, call: Call, sub: str, rg: str, name: str) -> Reply:
        update = self.spec.validate("RedisUpdateParameters", parse_json(call.body))
        props = update.get("properties", {})
        tls = props.get("minimumTlsVersion")
        if tls in RETIRED_TLS:
            raise errors.bad_request(
                f"Minimum TLS version '{tls}' is not supported: TLS 1.0 and 1.1 are retired for Azure Cache for "
                "Redis; use '1.2'.",
                "properties.minimumTlsVersion",
            )
        with self.store.lock:
            state = self.cache(sub, rg, name, method="PATCH", resource="cache")
            changing = [f for f in EXCLUSIVE_UPDATES if _changes(state.body, update, f)]
            if len(changing) > 1:
                raise errors.bad_request(
                    "The following updates can't be processed in one single request, please send seperate request "
                    f"to update them: '{','.join(changing)}'."
                )
            if props.get("disableAccessKeyAuthentication") is True and not _aad_on(state.body.get("properties")):
                raise errors.bad_request(
                    "Access key authentication can't be disabled while Microsoft Entra authentication is not "
                    "enabled on the cache. Enable Microsoft Entra authentication first.",
                    "properties.disableAccessKeyAuthentication",
                )
            if state.provisioning_state != "Succeeded":
                raise errors.busy(state.id, self.busy_retry_after)
            if _aad_on(props) and not _aad_on(state.body.get("properties")) and state.configuring_aad_gets:
                state.after_operation = ["ConfiguringAAD"] * state.configuring_aad_gets + ["Succeeded"]
            op = self.store.begin_operation(state, apply=lambda cache: _merge(cache.body, update))
            body = copy.deepcopy(state.body)  # old values, provisioningState Updating
            event = WriteEvent(call.path, "Microsoft.Cache/redis/write", delete=False)
            lro_census.note_shaped_answer()
            if self.lro_shape == "updating":
                return Reply(200, body, event=event)
            url = self._operation_url(call, state.subscription_id, op)
            headers = {"Azure-AsyncOperation": url, "Location": url, **self._retry_header(op)}
            return Reply(202, body, headers=headers, event=event)

    def _operation_url(self, call: Call, sub: str, op: Any) -> str:
        """Where ARM points both LRO headers: the display location URL-encoded ('West%20Europe'); the real
        URL also carries opaque signed parameters (t, c, s, h) that a client must send back unchanged."""
        query = urlencode({"api-version": call.query["api-version"], "t": op.token, "c": op.signature,
                           "s": op.signature, "h": op.signature})
        return (f"{call.base_url}/subscriptions/{sub}/providers/Microsoft.Cache/locations/"
                f"{quote(op.location)}/asyncOperations/{op.id}?{query}")

    def _retry_header(self, op: Any) -> dict[str, str]:
        if self.retry_after is None:
            return {}
        return {"Retry-After": str(self._retry_after(op))}

    def delete(self, call: Call, sub: str, rg: str, name: str) -> Reply:
        with self.store.lock:
            state = self.cache(sub, rg, name, method="DELETE", resource="cache")
            del self.store.caches[state.key]
        return Reply(200, None, event=WriteEvent(call.path, "Microsoft.Cache/redis/delete", delete=True))

    def async_operation(self, call: Call, sub: str, location: str, op_id: str) -> Reply:
        """`locations/{loc}/asyncOperations/{id}`: the operation status body ARM records (every key present,
        nulls included), with the status URL again in `Azure-AsyncOperation`."""
        with self.store.lock:
            op, state = self.store.poll_operation(op_id)
            if op is None or op.cache_key.split("/")[2] != sub.lower() or op.token != call.query.get("t"):
                raise ArmHttpError(404, "NotFound", f"The operation '{op_id}' was not found.")
            if op.done and op.fail and state is not None and state.sequence == ["Failed", "Succeeded"]:
                # The failure is told by the status URL; the cache itself is writable again (Succeeded).
                state.sequence = None
                state.set_provisioning_state("Succeeded")
            status = "InProgress" if not op.done else ("Failed" if op.fail else "Succeeded")
            error = None
            if status == "Failed":
                error = {"code": "InternalServerError",
                         "message": "The long-running operation ended in provisioningState Failed; the change "
                                    "was not applied."}  # (emulator wording)
            body = {
                "id": f"/subscriptions/{sub}/providers/Microsoft.Cache/locations/{op.location}/asyncOperations/{op.id}",
                "name": op.id, "status": status, "startTime": None, "endTime": None, "percentComplete": None,
                "properties": None, "error": error,
            }
            headers = {"Azure-AsyncOperation": self._operation_url(call, sub, op)}
        return Reply(200, body, headers=headers)

    def _retry_after(self, op: Any) -> int:
        return retry_after(self.store.seconds_left(op), self.retry_after or 0)

    def list_keys(self, call: Call, sub: str, rg: str, name: str) -> Reply:
        with self.store.lock:
            self.cache(sub, rg, name, method="POST", resource="cache")
        return Reply(200, {"primaryKey": secrets.token_urlsafe(32), "secondaryKey": secrets.token_urlsafe(32)})

    # ------------------------------------------------------------------------------------------ firewall

    def list_rules(self, call: Call, sub: str, rg: str, name: str) -> Reply:
        with self.store.lock:
            state = self.cache(sub, rg, name, method="GET", resource="firewallRules")
            items = [_as_child(state, r) for r in state.rules.values()]
        return hostile.firewall_page(call, state.id, sorted(items, key=lambda r: r["name"].lower()), state.hostile,
                                     self.page_size)

    def get_rule(self, call: Call, sub: str, rg: str, name: str, rule: str) -> Reply:
        with self.store.lock:
            state = self.cache(sub, rg, name, method="GET", resource="firewallRules")
            item = state.rules.get(rule.lower())
            if item is None:
                raise errors.not_found(f"Microsoft.Cache/Redis/{name}/firewallRules/{rule}", rg)
            return Reply(200, _as_child(state, item))

    def put_rule(self, call: Call, sub: str, rg: str, name: str, rule: str) -> Reply:
        if not RULE_NAME.match(rule):
            raise errors.bad_request(
                f"The firewall rule name '{rule}' is invalid: it may contain only letters, digits and underscores.",
                "ruleName",
            )
        body = self.spec.validate("RedisFirewallRule", parse_json(call.body))
        props = body["properties"]
        start = _ipv4(props["startIP"], "properties.startIP")
        end = _ipv4(props["endIP"], "properties.endIP")
        if start > end:
            raise errors.bad_request(
                f"The start IP address '{start}' must not be greater than the end IP address '{end}'.",
                "properties.startIP",
            )
        with self.store.lock:
            state = self.cache(sub, rg, name, method="PUT", resource="firewallRules")
            existing = state.rules.get(rule.lower())
            stored_name = existing["name"] if existing else rule
            item = rule_item(state.id, stored_name, {"startIP": str(start), "endIP": str(end)})
            state.rules[rule.lower()] = item
            reply = _as_child(state, item)
            # The PUT answer echoes the request's path and spells the type 'redis' (recording).
            reply["id"], reply["type"] = call.path.rstrip("/"), "Microsoft.Cache/redis/firewallRules"
        event = WriteEvent(call.path, "Microsoft.Cache/redis/firewallRules/write", delete=False)
        if existing:
            return Reply(200, reply, event=event)
        location = f"{call.base_url}{call.path}?{urlencode({'api-version': call.query['api-version']})}"
        return Reply(201, reply, headers={"Location": location}, event=event)

    def delete_rule(self, call: Call, sub: str, rg: str, name: str, rule: str) -> Reply:
        with self.store.lock:
            state = self.cache(sub, rg, name, method="DELETE", resource="firewallRules")
            existed = state.rules.pop(rule.lower(), None)
        if existed is None:
            return Reply(204)
        return Reply(200, event=WriteEvent(call.path, "Microsoft.Cache/redis/firewallRules/delete", delete=True))

    # ------------------------------------------------------------------------------------------ linked servers

    def list_linked_servers(self, call: Call, sub: str, rg: str, name: str) -> Reply:
        with self.store.lock:
            state = self.cache(sub, rg, name, method="GET", resource="linkedServers")
            items = [copy.deepcopy(i) for i in state.linked.values()]
        return self._page(call, sorted(items, key=lambda i: i["name"].lower()))

    # ------------------------------------------------------------------------------------------ private endpoints

    def list_private_endpoint_connections(self, call: Call, sub: str, rg: str, name: str) -> Reply:
        with self.store.lock:
            state = self.cache(sub, rg, name, method="GET", resource="privateEndpointConnections")
            inline = copy.deepcopy(state.body.get("properties", {}).get("privateEndpointConnections", []))
        items = name_connections(state.id, inline, "Microsoft.Cache/Redis/privateEndpointConnections")
        return Reply(200, {"value": items})


def _as_child(state: CacheState, item: dict[str, Any]) -> dict[str, Any]:
    """GET, PUT and the list all name a rule 'cache/rule' (azure-cli recording test_redis_cache_firewall.yaml;
    the spec's list example names it 'rule', the service does not)."""
    out = copy.deepcopy(item)
    out["name"] = f"{state.name}/{item['name']}"
    return out


def _aad_on(props: Any) -> bool:
    """`redisConfiguration["aad-enabled"]` is "true" (key and value compared case-insensitively)."""
    config = props.get("redisConfiguration") if isinstance(props, dict) else None
    if not isinstance(config, dict):
        return False
    return any(str(k).lower() == "aad-enabled" and str(v).lower() == "true" for k, v in config.items())


def _ipv4(value: str, target: str) -> ipaddress.IPv4Address:
    try:
        return ipaddress.IPv4Address(value)
    except ValueError as exc:
        raise errors.bad_request(f"'{value}' is not a valid IPv4 address.", target) from exc


def _changes(current: dict[str, Any], update: dict[str, Any], field: str) -> bool:
    if field == "identity":
        return "identity" in update and update["identity"] != current.get("identity")
    key = field.split(".", 1)[1]
    props = update.get("properties", {})
    return key in props and props[key] != current.get("properties", {}).get(key)


def _merge(body: dict[str, Any], update: dict[str, Any]) -> None:
    """PATCH semantics: named properties replace, `redisConfiguration` merges key by key."""
    props = body.setdefault("properties", {})
    for key, value in update.get("properties", {}).items():
        if key == "redisConfiguration":
            props.setdefault("redisConfiguration", {}).update(value)
        else:
            props[key] = value
    for key in ("tags", "identity"):
        if key in update:
            body[key] = update[key]
