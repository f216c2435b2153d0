"""The real `function_app.app`: its bindings as the host indexes them, and each trigger's hand-over.

Skipped only while a `remediators` module the facade imports has not been written yet (parallel work);
any other import error fails.
"""

from __future__ import annotations

import base64
import json
from types import ModuleType
from typing import Any

import pytest

from devhost.bindings import (
    AppSpec,
    HttpTriggerSpec,
    QueueTriggerSpec,
    TimerTriggerSpec,
    index_functions,
    read_app,
)
from devhost.encoding import decode
from devhost.http_frontend import HttpFrontend
from devhost.invoke import Delivery, call, check_signature, queue_argument, timer_argument
from devhost.keys import Keys

KEYS = Keys(function_key="fk", master_key="mk")


@pytest.fixture(scope="module")
def function_app() -> ModuleType:
    try:
        import function_app as module
    except ModuleNotFoundError as exc:
        if (exc.name or "").startswith("remediators."):
            pytest.skip(f"facade dependency {exc.name} not written yet")
        raise
    return module


@pytest.fixture(scope="module")
def spec(function_app: ModuleType) -> AppSpec:
    return read_app(function_app.app)


def test_queue_bindings(spec: AppSpec) -> None:
    queues = {q.name: (q.queue_name, q.connection, q.arg_name) for q in spec.queues}
    assert queues == {
        "on_resource_event": ("warden-events", "AzureWebJobsStorage", "msg"),
        "on_work_item": ("warden-work", "AzureWebJobsStorage", "msg"),
        "on_events_poison": ("warden-events-poison", "AzureWebJobsStorage", "msg"),
        "on_work_poison": ("warden-work-poison", "AzureWebJobsStorage", "msg"),
    }


def test_http_bindings(spec: AppSpec) -> None:
    routes = {h.name: (h.route, h.methods, h.auth_level) for h in spec.http}
    assert routes == {
        "post_scan": ("scans", ("POST",), "function"),
        "get_scan": ("scans/{id}", ("GET",), "function"),
    }


def test_timer_binding(spec: AppSpec) -> None:
    timers = {t.name: (t.schedule, t.run_on_startup) for t in spec.timers}
    assert timers == {"nightly_scan": ("0 0 2 * * *", False), "hourly_checkpoint": ("0 5 * * * *", False),
                      # 01:30 UTC on the 1st of every month (NCRONTAB: second minute hour day month weekday)
                      "monthly_assessment_pack": ("0 30 1 1 * *", False)}


def test_the_monthly_pack_timer_has_a_retry_policy(function_app: ModuleType) -> None:
    """Timer triggers are not retried by the host unless a retry policy says so; a failed publish raises
    (after its `alert`) so that this policy runs it again."""
    by_name = {f.get_function_name(): f for f in index_functions(function_app.app)}
    assert by_name["monthly_assessment_pack"].get_settings_dict("retry_policy") == {
        "setting_name": "retry_policy", "strategy": "exponential_backoff", "max_retry_count": "5",
        "minimum_interval": "00:01:00", "maximum_interval": "00:15:00"}
    assert by_name["nightly_scan"].get_settings_dict("retry_policy") is None


def test_raw_bindings_are_what_the_worker_sends_the_host(function_app: ModuleType) -> None:
    raw = {f.get_function_name(): [json.loads(b) for b in f.get_raw_bindings()]
           for f in index_functions(function_app.app)}
    assert raw["on_resource_event"] == [{"direction": "IN", "type": "queueTrigger", "name": "msg",
                                         "queueName": "warden-events", "connection": "AzureWebJobsStorage"}]
    http_in, http_out = raw["get_scan"]
    assert (http_in["type"], http_in["authLevel"], http_in["route"], http_in["methods"]) == (
        "httpTrigger", "FUNCTION", "scans/{id}", ["GET"])
    assert http_out == {"direction": "OUT", "type": "http", "name": "$return"}
    assert raw["nightly_scan"][0]["schedule"] == "0 0 2 * * *"


def test_every_function_is_runnable_by_the_dev_host(spec: AppSpec) -> None:
    for function in (*spec.queues, *spec.http, *spec.timers):
        check_signature(function.user_function, function.arg_name)


# Hand-over. HTTP requests whose validation the facade does before touching its runtime run the real
# facade end to end; the queue and timer triggers need a runtime (ARM, Storage), so for them the facade
# function is replaced by a recorder: what is under test is function_app's plumbing, not the facade.


def _frontend(spec: AppSpec) -> HttpFrontend:
    def no_admin(*_: Any) -> None:
        raise AssertionError("admin API not expected")

    return HttpFrontend(spec, "api", KEYS, no_admin)


def test_post_scan_with_bad_json_gets_the_facade_400(spec: AppSpec) -> None:
    reply = _frontend(spec).handle("POST", "/api/scans", {"x-functions-key": "fk"}, b"not json", "http://h")
    assert reply.status == 400
    assert ("Content-Type", "application/json") in [(k, v.split(";")[0]) for k, v in reply.headers]
    assert "error" in json.loads(reply.body)


def test_get_scan_passes_the_route_id_to_the_facade(spec: AppSpec) -> None:
    reply = _frontend(spec).handle("GET", "/api/scans/NOT-A-UUID", {"x-functions-key": "fk"}, b"", "http://h")
    assert reply.status == 400
    assert "scan id" in json.loads(reply.body)["error"]


def test_http_routes_need_a_key(spec: AppSpec) -> None:
    assert _frontend(spec).handle("POST", "/api/scans", {}, b"{}", "http://h").status == 401


def _by_name(spec: AppSpec, name: str) -> Any:
    found = spec.by_name(name)
    assert found is not None
    return found


def _deliver(function: QueueTriggerSpec, wire_text: str, dequeue_count: int = 2) -> None:
    payload = decode(wire_text, "base64")
    delivery = Delivery("msg-1", payload, dequeue_count, None, None, None, "pop")
    call(function.user_function, function.arg_name,
         queue_argument(function.user_function, function.arg_name, delivery))


@pytest.mark.parametrize("name", ["on_resource_event", "on_work_item"])
def test_queue_triggers_hand_over_decoded_text_and_metadata(
    function_app: ModuleType, spec: AppSpec, monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    seen: list[tuple[str, str, int]] = []
    monkeypatch.setattr(function_app.triggers, name,
                        lambda body, *, message_id, dequeue_count: seen.append((body, message_id, dequeue_count)))
    _deliver(_by_name(spec, name), base64.b64encode(b'[{"id": "e1"}]').decode())
    assert seen == [('[{"id": "e1"}]', "msg-1", 2)]


def test_non_utf8_body_fails_the_main_trigger_but_still_reaches_on_poison(
    function_app: ModuleType, spec: AppSpec, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[tuple[str, str]] = []
    monkeypatch.setattr(function_app.triggers, "on_resource_event",
                        lambda body, **_: seen.append(("event", body)))
    monkeypatch.setattr(function_app.triggers, "on_poison",
                        lambda queue, body, **_: seen.append((queue, body)))
    not_utf8 = base64.b64encode(b"\xff\xfe{}").decode()
    # The host hands the worker a string, so undecodable bytes arrive as U+FFFD, not as an error.
    _deliver(_by_name(spec, "on_resource_event"), not_utf8)
    _deliver(_by_name(spec, "on_events_poison"), not_utf8)
    assert seen == [("event", "\ufffd\ufffd{}"), ("warden-events-poison", "\ufffd\ufffd{}")]


@pytest.mark.parametrize(("name", "queue"), [("on_events_poison", "warden-events-poison"),
                                             ("on_work_poison", "warden-work-poison")])
def test_poison_triggers_name_their_queue(function_app: ModuleType, spec: AppSpec,
                                          monkeypatch: pytest.MonkeyPatch, name: str, queue: str) -> None:
    seen: list[tuple[str, str, str, int]] = []
    monkeypatch.setattr(function_app.triggers, "on_poison",
                        lambda q, body, *, message_id, dequeue_count: seen.append((q, body, message_id,
                                                                                   dequeue_count)))
    _deliver(_by_name(spec, name), base64.b64encode(b'{"v": 1}').decode(), dequeue_count=1)
    assert seen == [(queue, '{"v": 1}', "msg-1", 1)]


@pytest.mark.parametrize("past_due", [False, True])
def test_timer_passes_past_due(function_app: ModuleType, spec: AppSpec, monkeypatch: pytest.MonkeyPatch,
                               past_due: bool) -> None:
    seen: list[bool] = []
    monkeypatch.setattr(function_app.triggers, "on_timer", lambda *, past_due: seen.append(past_due))
    timer: TimerTriggerSpec = next(t for t in spec.timers if t.name == "nightly_scan")
    call(timer.user_function, timer.arg_name, timer_argument(past_due=past_due, schedule=timer.schedule))
    assert seen == [past_due]


def test_hourly_timer_signs_a_checkpoint(function_app: ModuleType, spec: AppSpec,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[str] = []
    monkeypatch.setattr(function_app.triggers, "on_checkpoint_timer", lambda: seen.append("checkpoint"))
    timer: TimerTriggerSpec = next(t for t in spec.timers if t.name == "hourly_checkpoint")
    call(timer.user_function, timer.arg_name, timer_argument(past_due=False, schedule=timer.schedule))
    assert seen == ["checkpoint"]


def test_monthly_timer_publishes_the_pack(function_app: ModuleType, spec: AppSpec,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[str] = []
    monkeypatch.setattr(function_app.triggers, "on_pack_timer", lambda: seen.append("pack"))
    timer: TimerTriggerSpec = next(t for t in spec.timers if t.name == "monthly_assessment_pack")
    call(timer.user_function, timer.arg_name, timer_argument(past_due=True, schedule=timer.schedule))
    assert seen == ["pack"]


def test_post_scan_passes_body_and_app_service_caller(function_app: ModuleType, spec: AppSpec,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[tuple[bytes, str | None]] = []

    def post_scan(body: bytes, *, caller: str | None) -> tuple[int, dict[str, Any]]:
        seen.append((body, caller))
        return 202, {"scanId": "s", "cacheCount": 3}

    monkeypatch.setattr(function_app.triggers, "post_scan", post_scan)
    frontend = _frontend(spec)
    headers = {"x-functions-key": "fk", "X-MS-CLIENT-PRINCIPAL-ID": "oid-1"}
    reply = frontend.handle("POST", "/api/scans", headers, b'{"scope": "/subscriptions/x"}', "http://h")
    assert (reply.status, json.loads(reply.body)) == (202, {"scanId": "s", "cacheCount": 3})
    frontend.handle("POST", "/api/scans", {"x-functions-key": "fk"}, b"{}", "http://h")
    assert seen == [(b'{"scope": "/subscriptions/x"}', "oid-1"), (b"{}", None)]
    assert isinstance(spec.by_name("post_scan"), HttpTriggerSpec)
