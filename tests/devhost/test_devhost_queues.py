"""Queue triggers against Azurite: decoding per host.json, retries, poison queues, visibility delays."""

from __future__ import annotations

import base64
import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import azure.functions as func
import pytest
from azure.core.exceptions import ResourceExistsError
from azure.storage.queue import QueueClient

from devhost.azurite import Azurite
from devhost.host import DevHost
from devhost.host_config import HostConfigError

IDLE_TIMEOUT = 60.0


def b64(text: str) -> str:
    return base64.b64encode(text.encode("utf-8")).decode("ascii")


@dataclass
class Calls:
    """What the test functions saw, in order (appended from worker threads; list.append is atomic)."""

    main: list[tuple[str, int]] = field(default_factory=list)
    poison: list[tuple[str, int]] = field(default_factory=list)


def build_app(queue: str, calls: Calls, *, fail: Callable[[str], bool] = lambda body: False,
              with_poison_trigger: bool = True) -> func.FunctionApp:
    app = func.FunctionApp()

    @app.function_name("work")
    @app.queue_trigger(arg_name="msg", queue_name=queue, connection="AzureWebJobsStorage")
    def work(msg: func.QueueMessage) -> None:
        body = msg.get_body().decode("utf-8")
        calls.main.append((body, msg.dequeue_count))
        if fail(body):
            raise RuntimeError(f"cannot handle {body}")

    if with_poison_trigger:
        @app.function_name("work_poison")
        @app.queue_trigger(arg_name="msg", queue_name=f"{queue}-poison", connection="AzureWebJobsStorage")
        def work_poison(msg: func.QueueMessage) -> None:
            calls.poison.append((msg.get_body().decode("utf-8"), msg.dequeue_count))

    return app


def client(azurite: Azurite, name: str) -> QueueClient:
    queue = QueueClient.from_connection_string(azurite.connection_string, name)
    with contextlib.suppress(ResourceExistsError):
        queue.create_queue()
    return queue


def texts(queue: QueueClient) -> list[str]:
    return [m.content for m in queue.peek_messages(max_messages=32)]


def test_base64_message_is_decoded_and_deleted(azurite: Azurite, queue_name: str,
                                               fast_host_json: dict[str, Any]) -> None:
    calls = Calls()
    queue = client(azurite, queue_name)
    queue.send_message(b64('{"eventType": "Microsoft.Resources.ResourceWriteSuccess"}'))
    with DevHost(build_app(queue_name, calls), azurite.connection_string, host_json=fast_host_json) as host:
        assert host.run_until_idle(IDLE_TIMEOUT)
    assert calls.main == [('{"eventType": "Microsoft.Resources.ResourceWriteSuccess"}', 1)]
    assert calls.poison == []
    assert texts(queue) == []


def test_none_encoding_passes_text_unchanged(azurite: Azurite, queue_name: str,
                                             fast_host_json: dict[str, Any]) -> None:
    fast_host_json["extensions"]["queues"]["messageEncoding"] = "none"
    calls = Calls()
    client(azurite, queue_name).send_message('{"plain": true}')
    with DevHost(build_app(queue_name, calls), azurite.connection_string, host_json=fast_host_json) as host:
        assert host.run_until_idle(IDLE_TIMEOUT)
    assert calls.main == [('{"plain": true}', 1)]


def test_non_base64_message_goes_to_poison_without_running_the_function(
    azurite: Azurite, queue_name: str, fast_host_json: dict[str, Any]
) -> None:
    # The Queues extension's MessageDecodingFailed handler moves such a message to -poison at once,
    # copying the text as it was; the function never sees it.
    calls = Calls()
    queue = client(azurite, queue_name)
    queue.send_message('{"not": "base64"}')
    app = build_app(queue_name, calls, with_poison_trigger=False)
    with DevHost(app, azurite.connection_string, host_json=fast_host_json) as host:
        assert host.run_until_idle(IDLE_TIMEOUT)
    assert calls.main == []
    assert texts(queue) == []
    assert texts(client(azurite, f"{queue_name}-poison")) == ['{"not": "base64"}']


def test_failing_function_is_retried_then_poisoned_and_the_poison_trigger_fires(
    azurite: Azurite, queue_name: str, fast_host_json: dict[str, Any]
) -> None:
    calls = Calls()
    queue = client(azurite, queue_name)
    queue.send_message(b64("bad"))
    queue.send_message(b64("good"))
    app = build_app(queue_name, calls, fail=lambda body: body == "bad")
    with DevHost(app, azurite.connection_string, host_json=fast_host_json) as host:
        assert host.run_until_idle(IDLE_TIMEOUT)
    max_dequeue = fast_host_json["extensions"]["queues"]["maxDequeueCount"]
    assert sorted(c for b, c in calls.main if b == "bad") == list(range(1, max_dequeue + 1))
    assert [c for b, c in calls.main if b == "good"] == [1]
    # The poison copy is a new message (dequeue count starts again) with the same text.
    assert calls.poison == [("bad", 1)]
    assert texts(queue) == []
    assert texts(client(azurite, f"{queue_name}-poison")) == []


def test_poison_copy_keeps_the_original_encoding(azurite: Azurite, queue_name: str,
                                                 fast_host_json: dict[str, Any]) -> None:
    calls = Calls()
    client(azurite, queue_name).send_message(b64("always fails"))
    app = build_app(queue_name, calls, fail=lambda body: True, with_poison_trigger=False)
    with DevHost(app, azurite.connection_string, host_json=fast_host_json) as host:
        assert host.run_until_idle(IDLE_TIMEOUT)
    assert texts(client(azurite, f"{queue_name}-poison")) == [b64("always fails")]


def test_message_dequeued_too_often_elsewhere_is_moved_before_running(
    azurite: Azurite, queue_name: str, fast_host_json: dict[str, Any]
) -> None:
    # E.g. a worker crashed mid-message several times: the host moves it instead of running it again.
    queue = client(azurite, queue_name)
    queue.send_message(b64("crashy"))
    max_dequeue = fast_host_json["extensions"]["queues"]["maxDequeueCount"]
    for _ in range(max_dequeue):
        [message] = queue.receive_messages(max_messages=1, visibility_timeout=30)
        queue.update_message(message.id, message.pop_receipt, visibility_timeout=0)
    calls = Calls()
    with DevHost(build_app(queue_name, calls), azurite.connection_string, host_json=fast_host_json) as host:
        assert host.run_until_idle(IDLE_TIMEOUT)
    assert calls.main == []
    assert calls.poison == [("crashy", 1)]


def test_delayed_message_is_not_processed_before_it_becomes_visible(
    azurite: Azurite, queue_name: str, fast_host_json: dict[str, Any]
) -> None:
    calls = Calls()
    queue = client(azurite, queue_name)
    seen_while_first_ran: list[int] = []

    app = func.FunctionApp()

    @app.function_name("work")
    @app.queue_trigger(arg_name="msg", queue_name=queue_name, connection="AzureWebJobsStorage")
    def work(msg: func.QueueMessage) -> None:
        body = msg.get_body().decode("utf-8")
        if body == "now":
            seen_while_first_ran.append(queue.get_queue_properties().approximate_message_count)
        calls.main.append((body, msg.dequeue_count))

    queue.send_message(b64("later"), visibility_timeout=2)
    queue.send_message(b64("now"))
    with DevHost(app, azurite.connection_string, host_json=fast_host_json) as host:
        assert host.run_until_idle(IDLE_TIMEOUT)
    # "later" waited for its delay: "now" ran first, while "later" was still queued, and "later" was
    # received exactly once (never picked up early and released).
    assert calls.main == [("now", 1), ("later", 1)]
    assert seen_while_first_ran == [2]


def test_str_annotation_receives_the_decoded_text(azurite: Azurite, queue_name: str,
                                                  fast_host_json: dict[str, Any]) -> None:
    received: list[str] = []
    app = func.FunctionApp()

    @app.queue_trigger(arg_name="body", queue_name=queue_name, connection="AzureWebJobsStorage")
    def as_text(body: str) -> None:
        received.append(body)

    client(azurite, queue_name).send_message(b64("héllo"))
    with DevHost(app, azurite.connection_string, host_json=fast_host_json) as host:
        assert host.run_until_idle(IDLE_TIMEOUT)
    assert received == ["héllo"]


def test_connection_comes_from_the_setting_the_binding_names(azurite: Azurite, queue_name: str,
                                                             fast_host_json: dict[str, Any]) -> None:
    calls = Calls()
    client(azurite, queue_name).send_message(b64("via settings"))
    settings = {"AzureWebJobsStorage": azurite.connection_string}
    with DevHost(build_app(queue_name, calls), host_json=fast_host_json, settings=settings) as host:
        assert host.run_until_idle(IDLE_TIMEOUT)
    assert calls.main == [("via settings", 1)]


def test_host_refuses_to_run_without_explicit_message_encoding(azurite: Azurite, queue_name: str,
                                                                fast_host_json: dict[str, Any]) -> None:
    del fast_host_json["extensions"]["queues"]["messageEncoding"]
    with pytest.raises(HostConfigError, match="messageEncoding"):
        DevHost(build_app(queue_name, Calls()), azurite.connection_string, host_json=fast_host_json)
