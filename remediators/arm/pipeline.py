"""The pipeline policies every ARM call goes through, and the hooks that read ARM's answers as sent.

Shared by every service module in `remediators.arm`: bounded retries (`ArmRetryPolicy`), the reconcile's
correlation id on every request (`arm_correlation`, `CorrelationPolicy`), raw JSON bodies (`raw_json`) and
the request id of a call's last response (`ResponseInfo`).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from azure.core.pipeline import PipelineRequest, PipelineResponse
from azure.core.pipeline.policies import RetryPolicy, SansIOHTTPPolicy

from .errors import parse_retry_after

TRANSIENT_STATUSES = frozenset({408, 429, 500, 502, 503, 504})


class ArmRetryPolicy(RetryPolicy):
    """Retry only transient statuses, and only when the server's Retry-After is short.

    azure-core's default retries any status >= 400 that carries Retry-After (a 409 busy included) and sleeps
    as long as the server asks; a Functions worker must not sleep for a throttled cache.
    """

    def __init__(self, max_retry_after: float, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.max_retry_after = max_retry_after

    def is_retry(self, settings: dict[str, Any], response: PipelineResponse[Any, Any]) -> bool:
        status = response.http_response.status_code
        if status not in TRANSIENT_STATUSES:
            return False
        retry_after = parse_retry_after(response.http_response.headers.get("Retry-After"))
        if retry_after is not None and retry_after > self.max_retry_after:
            return False
        return bool(super().is_retry(settings, response))


# The reconcile's correlation id; `BoundedArmPolling` carries it into the SDK's poller thread.
correlation_id: ContextVar[str | None] = ContextVar("warden_arm_correlation_id", default=None)


@contextmanager
def arm_correlation(value: str) -> Iterator[None]:
    """Send `x-ms-correlation-request-id` on every ARM call made inside the block. ARM keeps a client-sent
    correlation id and shows it in the Activity Log, so each of our writes can be found there from the
    audit record that names the same id."""
    token = correlation_id.set(value)
    try:
        yield
    finally:
        correlation_id.reset(token)


class CorrelationPolicy(SansIOHTTPPolicy):  # type: ignore[type-arg]
    def on_request(self, request: PipelineRequest[Any]) -> None:
        value = correlation_id.get()
        if value:
            request.http_request.headers["x-ms-correlation-request-id"] = value


def raw_json(pipeline_response: PipelineResponse[Any, Any], deserialized: Any, headers: Any) -> Any:
    """`cls=` hook: ARM's JSON as sent, so absent properties stay absent."""
    response = pipeline_response.http_response
    text = response.text()
    return json.loads(text) if text else None


class ResponseInfo:
    """`raw_response_hook` target: the request id and status of the last response of one call."""

    def __init__(self) -> None:
        self.request_id: str | None = None
        self.status: int | None = None

    def __call__(self, pipeline_response: PipelineResponse[Any, Any]) -> None:
        response = pipeline_response.http_response
        self.request_id = response.headers.get("x-ms-request-id")
        self.status = response.status_code
