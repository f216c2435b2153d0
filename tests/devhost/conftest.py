"""Fixtures for the dev host tests: a fast host.json, unique queue names, and a small HTTP client."""

from __future__ import annotations

import http.client
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import pytest


@pytest.fixture
def fast_host_json() -> dict[str, Any]:
    """host.json as in the repo but with short polling and no release delay, so retries take milliseconds."""
    return {
        "version": "2.0",
        "functionTimeout": "00:01:00",
        "extensions": {
            "queues": {
                "messageEncoding": "base64",
                "maxDequeueCount": 3,
                "visibilityTimeout": "00:00:00",
                "batchSize": 4,
                "maxPollingInterval": "00:00:00.2",
            }
        },
    }


@pytest.fixture
def queue_name() -> str:
    """A fresh queue name: Azurite is shared by the whole session, so tests must not share queues."""
    return f"t-{uuid.uuid4().hex[:20]}"


@dataclass(frozen=True)
class Response:
    status: int
    headers: Mapping[str, str]
    body: bytes


HttpCall = Callable[..., Response]


@pytest.fixture
def http_call() -> HttpCall:
    def call(base_url: str, method: str, path: str, body: bytes | None = None,
             headers: Mapping[str, str] | None = None) -> Response:
        parts = urlsplit(base_url)
        conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
        try:
            conn.request(method, path, body=body, headers=dict(headers or {}))
            reply = conn.getresponse()
            return Response(reply.status, {k.lower(): v for k, v in reply.getheaders()}, reply.read())
        finally:
            conn.close()

    return call
