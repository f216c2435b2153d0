"""Long-running operations with a deadline: ARM's LRO algorithm, stopped before it would outlive the call.

A PATCH of a cache, cluster or database is long-running (`Azure-AsyncOperation`, `Location` or
`provisioningState` polling). `begin_kwargs` gives the SDK's `begin_*` call our bounded poller and raw-JSON
hooks; `finish` waits for the result until the deadline: not finished in time is a deferral, not a failure.
"""

from __future__ import annotations

import time
from typing import Any

from azure.mgmt.core.polling.arm_polling import ARMPolling

from .errors import ArmError
from .pipeline import ApplyResult, ArmSession, ResponseInfo, correlation_id, raw_json

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
    """Wait (bounded) for a PATCH's long-running operation: not finished in time is a deferral, not a
    failure, and an error keeps the request id of the PATCH that started it so the audit can cite it."""
    request_id = info.request_id
    try:
        resource = session.call(poller.result)
    except ArmError as exc:
        exc.request_id = exc.request_id or request_id
        raise
    except StillRunning:
        return ApplyResult(False, request_id, detail=f"still running after {session.lro_wait_seconds:g}s")
    state = ((resource or {}).get("properties") or {}).get("provisioningState") if resource else None
    return ApplyResult(True, request_id, detail=f"provisioningState {state or 'unknown'}", resource=resource)
