"""host.json parsing, message encoding, route templates and key rules: the dev host's pure parts."""

from __future__ import annotations

import base64
import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import azure.functions as func
import pytest
from hypothesis import given
from hypothesis import strategies as st

from devhost.bindings import HttpTriggerSpec, QueueTriggerSpec, TimerTriggerSpec, UnsupportedFunction, read_app
from devhost.connections import MissingConnection, resolve_connection
from devhost.encoding import UndecodableMessage, decode, encode
from devhost.host_config import HostConfigError, load_host_config, parse_host_config, parse_timespan
from devhost.keys import Keys, authorised, presented_key
from devhost.routes import InvalidRoute, compile_route

REPO = Path(__file__).resolve().parents[2]


def _doc(**queues: Any) -> dict[str, Any]:
    return {"version": "2.0", "extensions": {"queues": queues}}


# host.json -------------------------------------------------------------------------------------------


def test_repo_host_json_sets_encoding_and_queue_knobs_explicitly() -> None:
    raw = json.loads((REPO / "host.json").read_text())
    queues = raw["extensions"]["queues"]
    for key in ("messageEncoding", "maxDequeueCount", "visibilityTimeout", "batchSize", "maxPollingInterval"):
        assert key in queues, key
    assert raw["extensionBundle"] == {"id": "Microsoft.Azure.Functions.ExtensionBundle", "version": "[4.*, 5.0.0)"}
    assert "Trace" in raw["logging"]["applicationInsights"]["samplingSettings"]["excludedTypes"].split(";")
    config = load_host_config(REPO / "host.json")
    assert config.queues.message_encoding == "base64"
    assert config.function_timeout == timedelta(minutes=10)
    assert config.route_prefix == "api"


def test_missing_message_encoding_is_refused() -> None:
    with pytest.raises(HostConfigError, match="messageEncoding"):
        parse_host_config(_doc(maxDequeueCount=5))
    with pytest.raises(HostConfigError, match="messageEncoding"):
        parse_host_config({"version": "2.0"})


def test_bad_values_name_the_setting() -> None:
    with pytest.raises(HostConfigError, match="messageEncoding"):
        parse_host_config(_doc(messageEncoding="utf8"))
    with pytest.raises(HostConfigError, match="batchSize"):
        parse_host_config(_doc(messageEncoding="base64", batchSize=64))
    with pytest.raises(HostConfigError, match="visibilityTimeout"):
        parse_host_config(_doc(messageEncoding="base64", visibilityTimeout="30s"))
    with pytest.raises(HostConfigError, match="maxPollingInterval"):
        parse_host_config(_doc(messageEncoding="base64", maxPollingInterval="00:00:00.05"))
    with pytest.raises(HostConfigError, match="version"):
        parse_host_config({"extensions": {"queues": {"messageEncoding": "base64"}}})


def test_defaults_follow_the_queues_extension() -> None:
    config = parse_host_config(_doc(messageEncoding="None"))
    assert config.queues.message_encoding == "none"
    assert config.queues.max_dequeue_count == 5
    assert config.queues.batch_size == 16
    assert config.queues.visibility_timeout == timedelta(0)
    assert config.queues.max_polling_interval == timedelta(minutes=1)
    assert config.function_timeout == timedelta(minutes=30)
    unbounded = parse_host_config({**_doc(messageEncoding="base64"), "functionTimeout": "-1"})
    assert unbounded.function_timeout is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("00:00:30", timedelta(seconds=30)),
        ("00:00:00.2", timedelta(milliseconds=200)),
        ("1.02:03:04", timedelta(days=1, hours=2, minutes=3, seconds=4)),
        ("00:10:00", timedelta(minutes=10)),
    ],
)
def test_timespans(text: str, expected: timedelta) -> None:
    assert parse_timespan(text, "x") == expected


# encoding --------------------------------------------------------------------------------------------


@given(st.binary(max_size=512))
def test_base64_round_trip(payload: bytes) -> None:
    assert decode(encode(payload, "base64"), "base64") == payload


def test_decode_matches_what_event_grid_writes() -> None:
    event = {"id": "1", "eventType": "Microsoft.Resources.ResourceWriteSuccess", "subject": "/subscriptions/x"}
    wire = base64.b64encode(json.dumps(event).encode()).decode()
    assert json.loads(decode(wire, "base64")) == event
    # .NET's Convert.FromBase64String skips whitespace, so a wrapped body still decodes.
    assert json.loads(decode(wire[:10] + "\r\n" + wire[10:], "base64")) == event


@pytest.mark.parametrize("wire", ['{"id": "1"}', "not base64!", "YWJj=", "YW"])
def test_non_base64_text_is_undecodable(wire: str) -> None:
    with pytest.raises(UndecodableMessage):
        decode(wire, "base64")


def test_none_encoding_passes_text_through() -> None:
    assert decode('{"a": 1}', "none") == b'{"a": 1}'


# connections -----------------------------------------------------------------------------------------


def test_connection_setting_resolution() -> None:
    assert resolve_connection({"S": "DefaultEndpointsProtocol=http;AccountName=a"}, "S").startswith("Default")
    assert "QueueEndpoint=http://127.0.0.1:10001/devstoreaccount1" in resolve_connection(
        {"S": "UseDevelopmentStorage=true"}, "S"
    )
    with pytest.raises(MissingConnection, match="AzureWebJobsStorage"):
        resolve_connection({}, "AzureWebJobsStorage")
    with pytest.raises(MissingConnection, match="identity-based"):
        resolve_connection({"AzureWebJobsStorage__queueServiceUri": "https://a.queue.core.windows.net"},
                           "AzureWebJobsStorage")


# routes ----------------------------------------------------------------------------------------------


def test_route_params_and_case_insensitive_literals() -> None:
    route = compile_route("api", "scans/{id}")
    assert route.match("/api/scans/abc-123") == {"id": "abc-123"}
    assert route.match("/API/Scans/abc") == {"id": "abc"}
    assert route.match("/api/scans/a%20b") == {"id": "a b"}
    assert route.match("/api/scans/") is None
    assert route.match("/api/scans/a/b") is None
    assert route.match("/api/scans") is None


def test_route_constraints_optional_and_catch_all() -> None:
    assert compile_route("api", "n/{x:int}").match("/api/n/42") == {"x": "42"}
    assert compile_route("api", "n/{x:int}").match("/api/n/forty") is None
    optional = compile_route("api", "things/{id?}")
    assert optional.match("/api/things") == {}
    assert optional.match("/api/things/7") == {"id": "7"}
    assert compile_route("api", "files/{*path}").match("/api/files/a/b/c") == {"path": "a/b/c"}
    assert compile_route("", "root/{id}").match("/root/1") == {"id": "1"}


def test_literal_routes_take_precedence_over_parameters() -> None:
    literal = compile_route("api", "scans/latest")
    param = compile_route("api", "scans/{id}")
    assert literal.precedence < param.precedence


@pytest.mark.parametrize("template", ["a/{x?}/b", "{*rest}/b", "a/{x}/{x}", "a/{x:regex}", "a/{x"])
def test_unsupported_templates_are_refused(template: str) -> None:
    with pytest.raises(InvalidRoute):
        compile_route("api", template)


# keys ------------------------------------------------------------------------------------------------


def test_key_levels() -> None:
    keys = Keys(function_key="f", master_key="m")
    assert authorised("anonymous", None, keys)
    assert not authorised("function", None, keys)
    assert not authorised("function", "wrong", keys)
    assert authorised("function", "f", keys)
    assert authorised("function", "m", keys)
    assert not authorised("admin", "f", keys)
    assert authorised("admin", "m", keys)
    assert presented_key({"X-Functions-Key": "h"}, {"code": "q"}) == "h"
    assert presented_key({}, {"code": "q"}) == "q"


# bindings --------------------------------------------------------------------------------------------


def test_read_app_takes_bindings_from_the_function_objects() -> None:
    app = func.FunctionApp(http_auth_level=func.AuthLevel.FUNCTION)

    @app.function_name("q")
    @app.queue_trigger(arg_name="m", queue_name="some-queue", connection="MyStorage")
    def q(m: func.QueueMessage) -> None:
        return None

    @app.route(route="things/{id}", methods=["GET", "PUT"], auth_level=func.AuthLevel.ADMIN)
    def things(req: func.HttpRequest) -> func.HttpResponse:
        return func.HttpResponse("x")

    @app.function_name("t")
    @app.timer_trigger(schedule="0 */5 * * * *", arg_name="timer", run_on_startup=False)
    def t(timer: func.TimerRequest) -> None:
        return None

    spec = read_app(app)
    # The decorated names are FunctionBuilders; the specs hold the plain functions the worker would call.
    [queue], [route], [timer] = spec.queues, spec.http, spec.timers
    assert queue == QueueTriggerSpec("q", "m", "some-queue", "MyStorage", queue.user_function)
    assert route == HttpTriggerSpec("things", "req", "things/{id}", ("GET", "PUT"), "admin", route.user_function)
    assert timer == TimerTriggerSpec("t", "timer", "0 */5 * * * *", False, timer.user_function)
    assert [f.__name__ for f in (queue.user_function, route.user_function, timer.user_function)] == ["q", "things", "t"]
    assert spec.by_name("THINGS") is route
    # Indexing twice works (azure-functions alone raises on a second get_functions()) ...
    assert read_app(app) == spec


def test_duplicate_function_names_are_still_refused() -> None:
    app = func.FunctionApp()

    @app.function_name("same")
    @app.timer_trigger(schedule="0 0 * * * *", arg_name="timer")
    def one(timer: func.TimerRequest) -> None:
        return None

    @app.function_name("same")
    @app.timer_trigger(schedule="0 0 * * * *", arg_name="timer")
    def two(timer: func.TimerRequest) -> None:
        return None

    with pytest.raises(ValueError, match="unique"):
        read_app(app)


def test_read_app_refuses_bindings_it_cannot_run() -> None:
    app = func.FunctionApp()

    @app.queue_trigger(arg_name="m", queue_name="in", connection="S")
    @app.queue_output(arg_name="out", queue_name="out", connection="S")
    def relay(m: func.QueueMessage, out: func.Out[str]) -> None:
        return None

    with pytest.raises(UnsupportedFunction, match="queue"):
        read_app(app)
