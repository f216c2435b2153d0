"""Helpers for tests, the demo and benchmarks that run clients against an `EmulatorServer`.

Kept in the package (not in a conftest) so any test directory, the demo and a child process can use the
same fixtures-in-a-function: `env_for` gives a client process everything it needs, `sample_cache` builds
fleet entries, and `lro_shape_from_env` lets the whole suite run under either LRO shape.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

import requests
from azure.core.credentials import AccessToken

from .principals import SUBSCRIPTION_ID, WARDEN, Principal
from .server import EmulatorServer

LRO_SHAPE_ENV = "WARDEN_TEST_LRO_SHAPE"


def lro_shape_from_env(default: str = "recorded") -> str:
    shape = os.environ.get(LRO_SHAPE_ENV, default).strip().lower()
    if shape not in ("recorded", "updating"):
        raise ValueError(f"{LRO_SHAPE_ENV} must be 'recorded' or 'updating', not {shape!r}")
    return shape


def env_for(server: EmulatorServer) -> dict[str, str]:
    """Environment variables a client process needs: trust the test CA, find the identity endpoint, and
    send ARM calls to the emulator."""
    return {
        "REQUESTS_CA_BUNDLE": server.ca_bundle,
        "IDENTITY_ENDPOINT": server.identity_endpoint,
        "IDENTITY_HEADER": server.identity_header,
        "WARDEN_ARM_ENDPOINT": server.arm_endpoint,
    }


@contextmanager
def running_emulator(
    fleet: Sequence[Mapping[str, Any]], *, lro_shape: str | None = None, **kwargs: Any
) -> Iterator[EmulatorServer]:
    """Start a server, point this process's environment at it (`env_for`), and undo both on exit.

    The LRO shape defaults to `WARDEN_TEST_LRO_SHAPE`, so a whole test run can be repeated per shape.
    """
    saved = {k: os.environ.get(k) for k in ("REQUESTS_CA_BUNDLE", "IDENTITY_ENDPOINT", "IDENTITY_HEADER",
                                             "WARDEN_ARM_ENDPOINT")}
    with EmulatorServer(fleet, lro_shape=lro_shape or lro_shape_from_env(), **kwargs) as server:
        os.environ.update(env_for(server))
        try:
            yield server
        finally:
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value


class EmulatorCredential:
    """A `TokenCredential` minting tokens for `principal` straight from the server, for tests that do not
    need to exercise the managed-identity endpoint."""

    def __init__(self, server: EmulatorServer, principal: Principal = WARDEN, *, lifetime: float = 3600.0) -> None:
        self.server, self.principal, self.lifetime = server, principal, lifetime

    def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        token = self.server.mint_token(self.principal, lifetime=self.lifetime)
        return AccessToken(token, int(time.time() + self.lifetime))


class StaticTokenCredential:
    """A `TokenCredential` that always presents the given string: forged, expired or malformed tokens."""

    def __init__(self, token: str, expires_on: int | None = None) -> None:
        self.token = token
        self.expires_on = expires_on if expires_on is not None else int(time.time() + 3600)

    def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        return AccessToken(self.token, self.expires_on)


def cache_id(name: str, resource_group: str = "rg-payments", subscription_id: str = SUBSCRIPTION_ID) -> str:
    return f"/subscriptions/{subscription_id}/resourceGroups/{resource_group}/providers/Microsoft.Cache/Redis/{name}"


def sample_cache(
    name: str,
    *,
    resource_group: str = "rg-payments",
    subscription_id: str = SUBSCRIPTION_ID,
    location: str = "UK South",
    properties: Mapping[str, Any] | None = None,
    firewall_rules: Sequence[tuple[str, str, str]] = (),
    diagnostic_settings: Sequence[Mapping[str, Any]] = (),
    knobs: Mapping[str, Any] | None = None,
    tags: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """A fleet entry shaped like a real GET body of a Standard C1 cache; `properties` overrides fields."""
    props: dict[str, Any] = {
        "provisioningState": "Succeeded",
        "redisVersion": "6.0",
        "sku": {"name": "Standard", "family": "C", "capacity": 1},
        "enableNonSslPort": False,
        "minimumTlsVersion": "1.2",
        "publicNetworkAccess": "Enabled",
        "redisConfiguration": {"maxmemory-policy": "volatile-lru", "maxclients": "1000"},
        "hostName": f"{name}.redis.cache.windows.net",
        "port": 6379,
        "sslPort": 6380,
        "linkedServers": [],
        "instances": [{"sslPort": 15000, "nonSslPort": 13000, "isMaster": True, "isPrimary": True}],
        "privateEndpointConnections": [],
    }
    props.update(properties or {})
    entry: dict[str, Any] = {
        "id": cache_id(name, resource_group, subscription_id),
        "name": name,
        "type": "Microsoft.Cache/Redis",
        "location": location,
        "tags": dict(tags or {}),
        "properties": props,
    }
    if firewall_rules:
        entry["firewallRules"] = [
            {"name": rule, "properties": {"startIP": start, "endIP": end}} for rule, start, end in firewall_rules
        ]
    if diagnostic_settings:
        entry["diagnosticSettings"] = [dict(ds) for ds in diagnostic_settings]
    if knobs:
        entry["x-emulator"] = dict(knobs)
    return entry


class RawArm:
    """Plain HTTPS against the emulator (as curl would), with a bearer token for `principal` or none, so
    tests can check ARM's refusals byte for byte without an SDK in between."""

    def __init__(self, server: EmulatorServer, principal: Principal | None = WARDEN, *,
                 api_version: str = "2024-11-01") -> None:
        self.server = server
        self.api_version = api_version
        self.session = requests.Session()
        self.session.verify = server.ca_bundle
        if principal is not None:
            self.session.headers["Authorization"] = f"Bearer {server.mint_token(principal)}"

    def request(self, method: str, path: str, *, api_version: str | None = "", body: Any = None,
                raw: bytes | None = None, headers: Mapping[str, str] | None = None) -> requests.Response:
        """`api_version=""` uses the default, None sends none; a full URL (a nextLink) is used as is."""
        version = self.api_version if api_version == "" else api_version
        url = path if path.startswith("https://") else self.server.arm_endpoint + path
        params = {"api-version": version} if version and "?" not in url else None
        data = raw if raw is not None else (None if body is None else json.dumps(body).encode("utf-8"))
        return self.session.request(method, url, params=params, data=data,
                                    headers={"Content-Type": "application/json", **(headers or {})}, timeout=10)
