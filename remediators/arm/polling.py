"""Long-running operations with a deadline: ARM's LRO algorithm, stopped before it would outlive the call.

A PATCH of a cache, cluster or database is long-running (`Azure-AsyncOperation`, `Location` or
`provisioningState` polling). `begin_kwargs` gives the SDK's `begin_*` call our bounded poller and raw-JSON
hooks; `finish` waits for the result until the deadline: not finished in time is a deferral, not a failure.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlsplit

from azure.core.rest import HttpRequest
from azure.mgmt.core.polling.arm_polling import ARMPolling

from ..resource_ids import ResourceId
from .endpoint import same_origin
from .errors import ArmError
from .pipeline import ApplyResult, ArmSession, ResponseInfo, correlation_id, raw_json

# An operation status URL as ARM names it: a cache's `asyncOperations`, a cluster's `operationsStatus`.
_STATUS_PATH = re.compile(
    r"^/subscriptions/(?P<sub>[0-9a-fA-F-]{36})/providers/Microsoft\.Cache/locations/[^/]+"
    r"/(?:asyncOperations|operationsStatus)/[^/]+$",
    re.IGNORECASE,
)
TERMINAL_STATUSES = frozenset({"succeeded", "failed", "canceled"})

# Reading the status of an operation ARM answered 202 (Location) or with Azure-AsyncOperation.
ACTIONS = frozenset({
    "Microsoft.Cache/locations/asyncOperations/read",  # status URL (Azure-AsyncOperation and Location) of a Redis PATCH
    "Microsoft.Cache/locations/operationsStatus/read",  # Azure-AsyncOperation of a cluster/database PATCH
})


class StillRunning(Exception):
    """Raised inside the SDK's poller thread when waiting longer would pass our deadline."""


class BoundedArmPolling(ARMPolling):
    """ARM's LRO algorithm (Azure-AsyncOperation, Location or provisioningState polling) with a deadline.

    The SDK's poller runs in a thread that cannot be cancelled; stopping it from inside, before a sleep
    that would pass the deadline, means no orphan thread keeps polling ARM after the engine has deferred.
    """

    def __init__(self, interval: float, deadline: float, **operation_config: Any) -> None:
        super().__init__(timeout=interval, **operation_config)
        self._deadline = deadline
        # The poller runs in its own thread, where the caller's context variables are not set: carry the
        # reconcile's correlation id over so status polls are joined to the write in the Activity Log.
        self._correlation = correlation_id.get()

    def run(self) -> None:
        token = correlation_id.set(self._correlation)
        try:
            super().run()
        finally:
            correlation_id.reset(token)

    def _delay(self) -> None:
        delay = self._extract_delay()
        if time.monotonic() + delay > self._deadline:
            raise StillRunning()
        self._sleep(delay)


def begin_kwargs(session: ArmSession, info: ResponseInfo) -> dict[str, Any]:
    """Keyword arguments of an SDK `begin_*` call with a raw JSON body: our bounded poller, raw-JSON result,
    the response hook that keeps the request id, and the session's timeouts."""
    deadline = time.monotonic() + session.lro_wait_seconds
    return {
        "content_type": "application/json",
        "cls": raw_json,
        "polling": BoundedArmPolling(session.polling_interval, deadline, **session.timeouts),
        "raw_response_hook": info,
        **session.timeouts,
    }


def finish(session: ArmSession, poller: Any, info: ResponseInfo) -> ApplyResult:
    """Wait (bounded) for a PATCH's long-running operation. ARM has accepted the write by now (the SDK's
    `begin_*` returned), so only ARM saying the operation failed is a failure, keeping the PATCH's request id
    so the audit can cite it. Not finished in time, or a status poll ARM did not answer (a 429/5xx after the
    pipeline's retries, a connection reset), is not a failure: the change may well be made, so it is pending
    and a later reconcile decides its outcome (`operation_status`, else the cache); recording it as failed
    lost a write ARM had applied from the trail."""
    request_id = info.request_id
    try:
        resource = session.call(poller.result)
    except ArmError as exc:
        if poll_unanswered(exc):
            return ApplyResult(False, request_id, detail=f"accepted; its status poll failed ({_said(exc)})",
                               status_url=info.status_url)
        exc.request_id = exc.request_id or request_id
        raise
    except StillRunning:
        return ApplyResult(False, request_id, detail=f"still running after {session.lro_wait_seconds:g}s",
                           status_url=info.status_url)
    state = ((resource or {}).get("properties") or {}).get("provisioningState") if resource else None
    return ApplyResult(True, request_id, detail=f"provisioningState {state or 'unknown'}", resource=resource)


def poll_unanswered(exc: ArmError) -> bool:
    """A status poll that failed without ARM telling the operation's outcome: no answer at all (reset,
    timeout, no token) or a transient refusal of the poll itself (429, 5xx). An operation that ended Failed
    or Canceled arrives behind a 2xx poll; a 404, 403 or an off-endpoint status URL is not "try later"."""
    return exc.kind in ("transient", "throttled") and (exc.status is None or exc.status >= 400)


def _said(exc: ArmError) -> str:
    return " ".join(str(p) for p in (exc.status, exc.code or exc.kind) if p) + f": {exc.message}"


@dataclass(frozen=True)
class OperationStatus:
    """What a pending write's status URL says now: `status` lower-cased and terminal (succeeded, failed,
    canceled), or None with `detail` saying why it tells nothing (absent, refused, unreadable, running)."""

    status: str | None
    detail: str


def operation_status(session: ArmSession, cache: ResourceId, url: object) -> OperationStatus:
    """Read a pending write's operation status once, so its outcome is what ARM says of the operation: a
    read of the cache cannot tell "not applied" from "applied, then changed back by someone". The URL came
    from ARM's answer and was kept in the state table, so it is used only when it is on the ARM endpoint and
    names a status path of the cache's own subscription. Any failure leaves the cache read to decide."""
    if not isinstance(url, str) or not url:
        return OperationStatus(None, "no status URL")
    path = unquote(urlsplit(url).path)
    match = _STATUS_PATH.match(path)
    if not same_origin(url, session.arm_endpoint) or match is None or {".", ".."} & set(path.split("/")) \
            or match["sub"].lower() != cache.subscription_id.lower():
        return OperationStatus(None, "status URL is not an operation status of the cache's subscription on ARM")
    client = session.pipeline()
    try:
        response = session.call(lambda: client.send_request(HttpRequest("GET", url), **session.timeouts))
    except ArmError as exc:  # not lost: the caller falls back on the cache read and records this detail
        return OperationStatus(None, f"status URL unreadable ({_said(exc)})")
    if response.status_code != 200:
        return OperationStatus(None, f"status URL answered HTTP {response.status_code}")
    try:
        body = response.json()
    except ValueError:
        return OperationStatus(None, "status URL answered no JSON")
    status = body.get("status") if isinstance(body, dict) else None
    if not isinstance(status, str) or status.lower() not in TERMINAL_STATUSES:
        return OperationStatus(None, f"operation status {str(status)[:40]!r}")
    return OperationStatus(status.lower(), f"operation status {status}")
