"""Long-running operations with a deadline: ARM's LRO algorithm, stopped before it would outlive the call."""

from __future__ import annotations

import time
from typing import Any

from azure.mgmt.core.polling.arm_polling import ARMPolling

from .pipeline import correlation_id


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
