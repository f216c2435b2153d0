"""Build trigger arguments the way the Python worker does and call the user's function.

The worker picks the argument's shape from the parameter's type annotation: `func.QueueMessage` gets the
message with its metadata, `str` the text, `bytes` the payload; timers get a `func.TimerRequest`, HTTP
functions a `func.HttpRequest`. The host hands queue payloads to the worker as a string, so bytes that are
not UTF-8 arrive with replacement characters; `queue_argument` does the same rather than passing raw bytes
that Azure would never deliver.
"""

from __future__ import annotations

import asyncio
import inspect
import typing
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from azure.functions import _abc as func_abc
from azure.functions.queue import QueueMessage
from azure.functions.timer import TimerRequest

from devhost.bindings import UnsupportedFunction


@dataclass(frozen=True)
class Delivery:
    """One dequeued message after the host decoded it per `messageEncoding`."""

    message_id: str
    payload: bytes
    dequeue_count: int
    inserted_on: datetime | None
    expires_on: datetime | None
    next_visible_on: datetime | None
    pop_receipt: str | None


def _annotation(user_function: Callable[..., Any], arg_name: str) -> Any:
    try:
        hints = typing.get_type_hints(user_function)
    except (NameError, TypeError) as exc:
        raise UnsupportedFunction(f"{user_function.__name__}: cannot resolve annotations: {exc}") from exc
    return hints.get(arg_name, inspect.Parameter.empty)


def check_signature(user_function: Callable[..., Any], arg_name: str) -> None:
    """Refuse functions needing arguments the dev host does not bind (the worker would fail them too)."""
    params = inspect.signature(user_function).parameters
    if arg_name not in params:
        raise UnsupportedFunction(f"{user_function.__name__}: no parameter named {arg_name!r}")
    extra = [
        p.name
        for p in params.values()
        if p.name != arg_name and p.default is inspect.Parameter.empty
        and p.kind not in (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)
    ]
    if extra:
        raise UnsupportedFunction(f"{user_function.__name__}: unbound parameters {extra}")
    _annotation(user_function, arg_name)


def queue_argument(user_function: Callable[..., Any], arg_name: str, delivery: Delivery) -> Any:
    text = delivery.payload.decode("utf-8", errors="replace")
    annotation = _annotation(user_function, arg_name)
    if annotation is str:
        return text
    if annotation is bytes:
        return text.encode("utf-8")
    if annotation is inspect.Parameter.empty or (
        isinstance(annotation, type) and issubclass(annotation, func_abc.QueueMessage)
    ):
        return QueueMessage(  # the concrete class the worker builds; func.QueueMessage is abstract
            id=delivery.message_id,
            body=text,
            dequeue_count=delivery.dequeue_count,
            expiration_time=delivery.expires_on,
            insertion_time=delivery.inserted_on,
            time_next_visible=delivery.next_visible_on,
            pop_receipt=delivery.pop_receipt,
        )
    raise UnsupportedFunction(f"{user_function.__name__}: queue argument typed {annotation!r}")


def timer_argument(*, past_due: bool, schedule: str) -> TimerRequest:
    # `func.TimerRequest` is the abstract type used in annotations; the worker builds this concrete one.
    return TimerRequest(past_due=past_due, schedule_status={}, schedule={"Expression": schedule})


def call(user_function: Callable[..., Any], arg_name: str, argument: Any) -> Any:
    """Run the function (sync or async) to completion; exceptions propagate to the trigger's policy."""
    result = user_function(**{arg_name: argument})
    if inspect.iscoroutine(result):
        return asyncio.run(result)
    return result
