"""ARM failures as the engine needs to see them: one `ArmError` with a `kind` that says what to do next.

- busy: 409 because the resource is mid-operation (ARM said so). Engine: defer, honour Retry-After.
- throttled: 429. Engine: defer, honour Retry-After.
- blocked: refused for good (ScopeLocked, RequestDisallowedByPolicy, (Linked)AuthorizationFailed, a
  data-sink conflict, any other 4xx refusal, a token ARM rejects). Engine: audit `blocked`, never retry.
- gone: 404, the cache (or child) does not exist. Engine: audit `gone`.
- stale: our picture of a child resource no longer matches ARM (checked before a delete). Engine: re-plan.
- unsafe: the write would widen access (checked before a delete). Engine: re-read and re-plan.
- transient: 5xx, connection errors, timeouts, a failed long-running operation, no token. Engine: defer.
- invalid: 400 validation, our request was wrong. Engine: audit `blocked`, never retry.

A 409 is "busy" only when ARM's code or message says the resource is busy; every other 409 (ScopeLocked,
data-sink conflicts) is a refusal, so a lock can never turn into an endless retry loop.
"""

from __future__ import annotations

import json
from typing import Any

from azure.core.exceptions import (
    AzureError,
    ClientAuthenticationError,
    HttpResponseError,
    ServiceRequestError,
    ServiceResponseError,
)

from .endpoint import OffEndpointRequest, PagingCut
from .pacing import SubscriptionPaused, read_retry_after

KINDS = ("busy", "throttled", "blocked", "gone", "stale", "unsafe", "transient", "invalid")
# What ARM may answer differently if asked again later (the engine defers, rather than gives up, on these).
RETRYABLE_KINDS = frozenset({"busy", "throttled", "transient"})
# ARM codes that mean "try again later" on a 409.
BUSY_CODES = frozenset({"anotheroperationinprogress", "resourcebusy", "operationinprogress"})
# Refusals that arrive as 400 but are policy, not a malformed request.
BLOCKING_400_CODES = frozenset({"requestdisallowedbypolicy", "scopelocked", "linkedauthorizationfailed"})


class ArmError(Exception):
    """One ARM failure; `kind` is one of KINDS."""

    def __init__(
        self,
        kind: str,
        message: str,
        *,
        code: str | None = None,
        status: int | None = None,
        request_id: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        if kind not in KINDS:
            raise ValueError(f"ArmError kind must be one of {KINDS}, not {kind!r}")
        super().__init__(f"{kind}: {code + ': ' if code else ''}{message}")
        self.kind = kind
        self.code = code
        self.message = message
        self.status = status
        self.request_id = request_id
        self.retry_after = retry_after


def parse_retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After header (delta-seconds or HTTP-date), None when absent or unreadable; capped
    at `pacing.MAX_RETRY_AFTER_SECONDS`."""
    return read_retry_after({"retry-after": value} if value else {}).seconds


def _body_error(exc: HttpResponseError) -> tuple[str | None, str | None]:
    """(code, message) from the response body, in ARM's `{"error": {...}}` or Monitor's bare shape."""
    response = exc.response
    if response is None:
        return None, None
    try:
        body: Any = json.loads(response.text())
    except (ValueError, TypeError):
        return None, None
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        body = body["error"]
    if not isinstance(body, dict):
        return None, None
    code, message = body.get("code"), body.get("message")
    return (code if isinstance(code, str) else None, message if isinstance(message, str) else None)


def is_busy(code: str | None, message: str | None) -> bool:
    lowered = (code or "").lower()
    if lowered in BUSY_CODES:
        return True
    return lowered == "conflict" and "is busy" in (message or "").lower()


def kind_for(status: int | None, code: str | None, message: str | None) -> str:
    lowered = (code or "").lower()
    if status is None:
        return "transient"
    if status == 404:
        return "gone"
    if status == 429:
        return "throttled"
    if status == 409:
        return "busy" if is_busy(code, message) else "blocked"
    if status == 408 or status >= 500:
        return "transient"
    if status == 400:
        if lowered in BLOCKING_400_CODES or "data sink" in (message or "").lower():
            return "blocked"
        return "invalid"
    if status >= 400:
        return "blocked"
    return "transient"  # a long-running operation that ended Failed/Canceled behind a 2xx


def malformed_answer() -> ArmError:
    """A 2xx answer whose JSON does not have the shape the API documents (a hostile or broken ARM). Refused
    for good, like an off-host link: the text of the answer is not quoted (it may hold anything)."""
    return ArmError("blocked", "ARM's answer does not have the documented shape; it was not used",
                    code="MalformedAnswer")


def from_azure_error(exc: AzureError) -> ArmError:
    """Map any azure-core failure to an ArmError (the original stays as `__cause__` when raised `from`)."""
    if isinstance(exc, HttpResponseError) and exc.response is not None:
        response = exc.response
        status = exc.status_code
        body_code, body_message = _body_error(exc)
        code = body_code or (exc.error.code if exc.error is not None else None)
        message = body_message or (exc.error.message if exc.error is not None else None) or exc.message
        retry = read_retry_after(response.headers)
        return ArmError(
            kind_for(status, code, message),
            (message or f"HTTP {status}") + retry.note(),
            code=code,
            status=status,
            request_id=response.headers.get("x-ms-request-id"),
            retry_after=retry.seconds,
        )
    if isinstance(exc, SubscriptionPaused):
        return ArmError("throttled", f"not sent: {exc.message}", code="SubscriptionPaused",
                        retry_after=exc.retry_after)
    if isinstance(exc, OffEndpointRequest):
        return ArmError("blocked", exc.message, code="OffEndpointRequest")
    if isinstance(exc, PagingCut):
        return ArmError("blocked", exc.message, code="PagingCut")
    if isinstance(exc, ServiceRequestError | ServiceResponseError):
        return ArmError("transient", f"ARM unreachable: {exc.message}", code=type(exc).__name__)
    if isinstance(exc, ClientAuthenticationError):
        return ArmError("transient", f"no access token: {exc.message}", code="CredentialUnavailable")
    return ArmError("transient", exc.message or str(exc), code=type(exc).__name__)
