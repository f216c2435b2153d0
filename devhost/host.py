"""DevHost: run a v2-model `azure.functions.FunctionApp` locally the way the Functions host runs it.

It indexes the app through `get_functions()`, listens on the trigger queues in Azurite per `host.json`,
serves the HTTP routes with function keys, and fires timers on request (`fire_timer` or the admin API
`POST /admin/functions/<name>`). Timers are not run on their schedule: a dev run wants to choose when the
nightly scan happens. The same function objects that Azure runs are called; nothing is re-declared here.
"""

from __future__ import annotations

import logging
import os
import threading
import time
import uuid
from collections.abc import Mapping
from datetime import timedelta
from pathlib import Path
from typing import Any

import azure.functions as func
from azure.storage.queue import QueueServiceClient

from devhost.bindings import QueueTriggerSpec, TimerTriggerSpec, TriggerSpec, read_app
from devhost.connections import resolve_connection
from devhost.host_config import HostConfig, load_host_config
from devhost.http_frontend import DEFAULT_MAX_BODY, HttpFrontend, HttpServer
from devhost.invoke import Delivery, call, check_signature, queue_argument, timer_argument
from devhost.keys import Keys, new_key
from devhost.queues import MESSAGE_LEASE, Activity, QueueListener

log = logging.getLogger("devhost")

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_HOST_JSON = ROOT / "host.json"
STORAGE_SETTING = "AzureWebJobsStorage"


class DevHost:
    def __init__(
        self,
        app: func.FunctionApp,
        connection_string: str | None = None,
        *,
        host_json: str | Path | Mapping[str, Any] = DEFAULT_HOST_JSON,
        function_key: str | None = None,
        master_key: str | None = None,
        port: int = 0,
        settings: Mapping[str, str] | None = None,
        max_body_bytes: int = DEFAULT_MAX_BODY,
    ) -> None:
        """`settings` are the app settings (default: the environment); `connection_string`, when given,
        is used as `AzureWebJobsStorage`, the setting the bindings name."""
        self.config: HostConfig = load_host_config(host_json)
        self.spec = read_app(app)
        for spec in (*self.spec.queues, *self.spec.http, *self.spec.timers):
            check_signature(spec.user_function, spec.arg_name)
        self._settings = dict(os.environ if settings is None else settings)
        if connection_string is not None:
            self._settings[STORAGE_SETTING] = connection_string
        self.keys = Keys(function_key or new_key(), master_key or new_key())
        self._activity = Activity()
        self._listeners = self._build_listeners()
        self._http = HttpServer(
            HttpFrontend(self.spec, self.config.route_prefix, self.keys, self._run_admin),
            port=port,
            max_body=max_body_bytes,
        )
        self._background: list[threading.Thread] = []
        self._started = False
        self._stopped = False  # one run per instance: threads and the listening socket are not reusable

    def _build_listeners(self) -> list[QueueListener]:
        services: dict[str, QueueServiceClient] = {}
        listeners = []
        for spec in self.spec.queues:
            if spec.connection not in services:
                conn = resolve_connection(self._settings, spec.connection)
                services[spec.connection] = QueueServiceClient.from_connection_string(conn)
            listeners.append(
                QueueListener(spec, services[spec.connection], self.config.queues, self._activity,
                              self._poisoned, lease=self._lease())
            )
        return listeners

    def _lease(self) -> timedelta:
        """The host holds a message 10 minutes and renews the hold while the function runs; without renewal
        the dev host holds it for the whole functionTimeout so a slow function is never run twice at once."""
        timeout = self.config.function_timeout
        return max(MESSAGE_LEASE, timeout) if timeout is not None else MESSAGE_LEASE

    @property
    def http_base_url(self) -> str:
        return self._http.base_url

    @property
    def function_key(self) -> str:
        return self.keys.function_key

    @property
    def master_key(self) -> str:
        return self.keys.master_key

    def start(self) -> DevHost:
        if self._started or self._stopped:
            raise RuntimeError("a DevHost runs once: create a new one")
        for listener in self._listeners:
            listener.ensure_queue()
        for listener in self._listeners:
            listener.start()
        self._http.start()
        self._started = True
        for timer in self.spec.timers:
            if timer.run_on_startup:
                self._in_background(timer, "")
        log.info("DevHost serving %s; queues %s", self.http_base_url, [x.queue_name for x in self._listeners])
        return self

    def stop(self) -> None:
        if not self._started:
            return
        self._http.stop()
        for listener in self._listeners:
            listener.stop()
        for thread in self._background:
            thread.join()
        self._started = False
        self._stopped = True

    def __enter__(self) -> DevHost:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def run_until_idle(self, timeout: float) -> bool:
        """Wait until every trigger queue is empty (visible and invisible messages alike) and nothing runs.

        Returns False if that did not happen within `timeout` seconds (a message keeps failing on a poison
        queue, or a delayed message is due later than the timeout).
        """
        if not self._started:
            raise RuntimeError("start() the DevHost before run_until_idle()")
        deadline = time.monotonic() + timeout
        while True:
            busy_before, generation = self._activity.snapshot()
            pending = sum(listener.pending() for listener in self._listeners)
            busy_after, generation_after = self._activity.snapshot()
            if not (busy_before or busy_after or pending) and generation == generation_after:
                return True
            if time.monotonic() >= deadline:
                return False
            for listener in self._listeners:
                listener.wake()
            self._activity.wait(0.05)

    def fire_timer(self, name: str, *, past_due: bool = False) -> None:
        """Run a timer function now, in this thread; its exception propagates to the caller."""
        spec = self.spec.by_name(name)
        if not isinstance(spec, TimerTriggerSpec):
            raise KeyError(f"no timer function named {name!r}")
        self._run_timer(spec, past_due)

    def _run_timer(self, spec: TimerTriggerSpec, past_due: bool) -> None:
        invocation = uuid.uuid4()
        log.info("Executing 'Functions.%s' (Reason='Timer fired', Id=%s)", spec.name, invocation)
        call(spec.user_function, spec.arg_name, timer_argument(past_due=past_due, schedule=spec.schedule))
        log.info("Executed 'Functions.%s' (Succeeded, Id=%s)", spec.name, invocation)

    def _run_admin(self, spec: TriggerSpec, text: str) -> None:
        """Admin API: the host accepts with 202 and runs the function in the background."""
        self._in_background(spec, text)

    def _in_background(self, spec: TriggerSpec, text: str) -> None:
        thread = threading.Thread(target=self._run_logged, args=(spec, text), name=f"admin-{spec.name}")
        self._background = [t for t in self._background if t.is_alive()] + [thread]
        thread.start()

    def _run_logged(self, spec: TriggerSpec, text: str) -> None:
        try:
            if isinstance(spec, TimerTriggerSpec):
                self._run_timer(spec, past_due=False)
            elif isinstance(spec, QueueTriggerSpec):
                delivery = Delivery(str(uuid.uuid4()), text.encode("utf-8"), 1, None, None, None, None)
                call(spec.user_function, spec.arg_name, queue_argument(spec.user_function, spec.arg_name, delivery))
        except Exception:  # a background invocation has no caller to raise to: the log is the record
            log.exception("Executed 'Functions.%s' (Failed, admin invocation)", spec.name)

    def _poisoned(self, poison_queue: str) -> None:
        """The host's shared queue watcher: a poison-queue listener polls at once after a move."""
        for listener in self._listeners:
            if listener.queue_name == poison_queue:
                listener.wake()
