"""Turn a FunctionApp's functions into trigger specs, from the same metadata the real host indexes.

The Python worker indexes a v2-model app by calling `get_functions()` and sending each function's raw
binding JSON (`get_raw_bindings()`) to the host; the host builds its listeners from that JSON. Reading the
same JSON here (instead of re-declaring queue names or routes) means a binding typo in `function_app.py`
breaks the dev host the way it would break Azure.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import azure.functions as func
from azure.functions.decorators.function_app import Function

QUEUE_TRIGGER = "queueTrigger"
HTTP_TRIGGER = "httpTrigger"
TIMER_TRIGGER = "timerTrigger"
HTTP_OUTPUT = "http"

AUTH_LEVELS = ("anonymous", "function", "admin")


class UnsupportedFunction(ValueError):
    """A function uses a binding or shape the dev host cannot run faithfully; refuse rather than guess."""


@dataclass(frozen=True)
class QueueTriggerSpec:
    name: str
    arg_name: str
    queue_name: str
    connection: str
    user_function: Callable[..., Any]


@dataclass(frozen=True)
class HttpTriggerSpec:
    name: str
    arg_name: str
    route: str
    methods: tuple[str, ...]  # empty = every method, as in the real host
    auth_level: str
    user_function: Callable[..., Any]


@dataclass(frozen=True)
class TimerTriggerSpec:
    name: str
    arg_name: str
    schedule: str
    run_on_startup: bool
    user_function: Callable[..., Any]


TriggerSpec = QueueTriggerSpec | HttpTriggerSpec | TimerTriggerSpec


@dataclass(frozen=True)
class AppSpec:
    queues: tuple[QueueTriggerSpec, ...]
    http: tuple[HttpTriggerSpec, ...]
    timers: tuple[TimerTriggerSpec, ...]

    def by_name(self, name: str) -> TriggerSpec | None:
        for spec in (*self.queues, *self.http, *self.timers):
            if spec.name.lower() == name.lower():  # the host treats function names case-insensitively
                return spec
        return None


def _required(binding: dict[str, Any], key: str, function: str) -> Any:
    value = binding.get(key)
    if value in (None, ""):
        raise UnsupportedFunction(f"{function}: {binding.get('type')} binding has no {key!r}")
    return value


def _spec(name: str, bindings: Sequence[dict[str, Any]], user_function: Callable[..., Any]) -> TriggerSpec:
    triggers = [b for b in bindings if b.get("type", "").lower().endswith("trigger")]
    if len(triggers) != 1:
        raise UnsupportedFunction(f"{name}: expected exactly one trigger, found {len(triggers)}")
    trigger = triggers[0]
    others = [b for b in bindings if b is not trigger]
    kind = trigger["type"]
    if kind == HTTP_TRIGGER:
        if any(b.get("type") != HTTP_OUTPUT for b in others):
            raise UnsupportedFunction(f"{name}: only an http output binding may accompany an HTTP trigger")
    elif others:
        raise UnsupportedFunction(f"{name}: extra bindings {[b.get('type') for b in others]} are not supported")
    arg = _required(trigger, "name", name)
    if kind == QUEUE_TRIGGER:
        return QueueTriggerSpec(
            name=name,
            arg_name=arg,
            queue_name=_required(trigger, "queueName", name),
            connection=trigger.get("connection") or "AzureWebJobsStorage",
            user_function=user_function,
        )
    if kind == HTTP_TRIGGER:
        level = str(trigger.get("authLevel") or "function").lower()
        if level not in AUTH_LEVELS:
            raise UnsupportedFunction(f"{name}: unknown authLevel {level!r}")
        methods = tuple(str(m).upper() for m in (trigger.get("methods") or ()))
        return HttpTriggerSpec(
            name=name,
            arg_name=arg,
            route=(trigger.get("route") or name).strip("/"),
            methods=methods,
            auth_level=level,
            user_function=user_function,
        )
    if kind == TIMER_TRIGGER:
        return TimerTriggerSpec(
            name=name,
            arg_name=arg,
            schedule=_required(trigger, "schedule", name),
            run_on_startup=bool(trigger.get("runOnStartup")),
            user_function=user_function,
        )
    raise UnsupportedFunction(f"{name}: trigger type {kind!r} is not supported by the dev host")


def index_functions(app: func.FunctionApp) -> list[Function]:
    """`app.get_functions()`, callable more than once.

    azure-functions 1.x remembers the names it validated in `functions_bindings`, so a second
    `get_functions()` on the same app raises "does not have a unique function name" although nothing
    changed. The worker indexes once per process; tests and dev hosts index the same imported app many
    times. The validation state is cleared for the call and put back after, so duplicates within the app
    are still caught and the app is left as it was found.
    """
    saved = app.functions_bindings
    app.functions_bindings = None
    try:
        return app.get_functions()
    finally:
        app.functions_bindings = saved


def read_app(app: func.FunctionApp) -> AppSpec:
    """Index every function of the app; duplicate names are refused as the real host refuses them."""
    queues: list[QueueTriggerSpec] = []
    http: list[HttpTriggerSpec] = []
    timers: list[TimerTriggerSpec] = []
    seen: set[str] = set()
    for function in index_functions(app):
        name = function.get_function_name()
        if not name:
            raise UnsupportedFunction(f"function {function} has no name")
        if name.lower() in seen:
            raise UnsupportedFunction(f"duplicate function name {name!r}")
        seen.add(name.lower())
        bindings = [json.loads(raw) for raw in function.get_raw_bindings()]
        spec = _spec(name, bindings, function.get_user_function())
        if isinstance(spec, QueueTriggerSpec):
            queues.append(spec)
        elif isinstance(spec, HttpTriggerSpec):
            http.append(spec)
        else:
            timers.append(spec)
    return AppSpec(tuple(queues), tuple(http), tuple(timers))
