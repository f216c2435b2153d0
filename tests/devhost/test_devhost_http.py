"""HTTP routes, function keys, admin API and timers through a running DevHost (no queues: no Azurite)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from typing import Any

import azure.functions as func
import pytest

from devhost.host import DevHost

FUNCTION_KEY = "function-key-for-tests"
MASTER_KEY = "master-key-for-tests"
SECRET_MARKER = "internal detail that must not leak"


class Recorder:
    def __init__(self) -> None:
        self.requests: list[func.HttpRequest] = []
        self.timers: list[func.TimerRequest] = []
        self.timer_fired = threading.Event()


def build_app(recorder: Recorder) -> func.FunctionApp:
    app = func.FunctionApp(http_auth_level=func.AuthLevel.FUNCTION)

    @app.function_name("get_item")
    @app.route(route="items/{id}", methods=[func.HttpMethod.GET])
    def get_item(req: func.HttpRequest) -> func.HttpResponse:
        recorder.requests.append(req)
        body = {"id": req.route_params["id"], "q": req.params.get("q")}
        return func.HttpResponse(json.dumps(body), status_code=200, mimetype="application/json")

    @app.function_name("latest_item")
    @app.route(route="items/latest", methods=[func.HttpMethod.GET])
    def latest_item(req: func.HttpRequest) -> func.HttpResponse:
        return func.HttpResponse("latest", status_code=200)

    @app.function_name("create_item")
    @app.route(route="items", methods=[func.HttpMethod.POST])
    def create_item(req: func.HttpRequest) -> func.HttpResponse:
        recorder.requests.append(req)
        return func.HttpResponse(req.get_body(), status_code=202, headers={"X-Echo": "yes"})

    @app.function_name("boom")
    @app.route(route="boom", methods=[func.HttpMethod.GET])
    def boom(req: func.HttpRequest) -> func.HttpResponse:
        raise RuntimeError(SECRET_MARKER)

    @app.function_name("public")
    @app.route(route="public", methods=[func.HttpMethod.GET], auth_level=func.AuthLevel.ANONYMOUS)
    def public(req: func.HttpRequest) -> func.HttpResponse:
        return func.HttpResponse("hello")

    @app.function_name("admin_only")
    @app.route(route="admin-only", methods=[func.HttpMethod.GET], auth_level=func.AuthLevel.ADMIN)
    def admin_only(req: func.HttpRequest) -> func.HttpResponse:
        return func.HttpResponse("admin")

    @app.function_name("nightly")
    @app.timer_trigger(schedule="0 0 2 * * *", arg_name="timer", run_on_startup=False)
    def nightly(timer: func.TimerRequest) -> None:
        recorder.timers.append(timer)
        recorder.timer_fired.set()

    return app


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture
def host(recorder: Recorder, fast_host_json: dict[str, Any]) -> Iterator[DevHost]:
    with DevHost(build_app(recorder), host_json=fast_host_json, function_key=FUNCTION_KEY,
                 master_key=MASTER_KEY, settings={}, max_body_bytes=1024) as running:
        yield running


KEY = {"x-functions-key": FUNCTION_KEY}


def test_route_params_query_and_key_header(host: DevHost, recorder: Recorder, http_call) -> None:
    reply = http_call(host.http_base_url, "GET", "/api/items/abc%2D1?q=x", headers=KEY)
    assert reply.status == 200
    assert reply.headers["content-type"].startswith("application/json")
    assert json.loads(reply.body) == {"id": "abc-1", "q": "x"}
    [request] = recorder.requests
    assert request.method == "GET"
    assert request.url.startswith(host.http_base_url + "/api/items/")


def test_key_in_code_query_parameter(host: DevHost, http_call) -> None:
    reply = http_call(host.http_base_url, "GET", f"/api/items/7?code={FUNCTION_KEY}")
    assert reply.status == 200
    assert json.loads(reply.body)["id"] == "7"


def test_literal_route_wins_over_parameter(host: DevHost, http_call) -> None:
    assert http_call(host.http_base_url, "GET", "/api/items/latest", headers=KEY).body == b"latest"


def test_post_body_reaches_the_function_and_headers_come_back(host: DevHost, recorder: Recorder,
                                                              http_call) -> None:
    reply = http_call(host.http_base_url, "POST", "/api/items", body=b'{"n": 1}', headers=KEY)
    assert (reply.status, reply.body, reply.headers["x-echo"]) == (202, b'{"n": 1}', "yes")
    assert recorder.requests[-1].get_json() == {"n": 1}


def test_missing_or_wrong_key_is_401_and_the_function_does_not_run(host: DevHost, recorder: Recorder,
                                                                   http_call) -> None:
    assert http_call(host.http_base_url, "GET", "/api/items/1").status == 401
    assert http_call(host.http_base_url, "GET", "/api/items/1", headers={"x-functions-key": "nope"}).status == 401
    assert http_call(host.http_base_url, "GET", "/api/items/1?code=nope").status == 401
    assert recorder.requests == []


def test_auth_levels(host: DevHost, http_call) -> None:
    base = host.http_base_url
    assert http_call(base, "GET", "/api/public").status == 200
    assert http_call(base, "GET", "/api/admin-only", headers=KEY).status == 401
    assert http_call(base, "GET", "/api/admin-only", headers={"x-functions-key": MASTER_KEY}).status == 200
    assert http_call(base, "GET", "/api/items/1", headers={"x-functions-key": MASTER_KEY}).status == 200


def test_unknown_route_404_and_wrong_method_405(host: DevHost, http_call) -> None:
    assert http_call(host.http_base_url, "GET", "/api/nothing-here", headers=KEY).status == 404
    assert http_call(host.http_base_url, "GET", "/items/1", headers=KEY).status == 404
    reply = http_call(host.http_base_url, "DELETE", "/api/items/1", headers=KEY)
    assert reply.status == 405
    assert reply.headers["allow"] == "GET"


def test_body_over_the_limit_is_413(host: DevHost, recorder: Recorder, http_call) -> None:
    reply = http_call(host.http_base_url, "POST", "/api/items", body=b"x" * 1025, headers=KEY)
    assert reply.status == 413
    assert recorder.requests == []
    assert http_call(host.http_base_url, "POST", "/api/items", body=b"x" * 1024, headers=KEY).status == 202


def test_function_exception_is_a_generic_500_without_traceback(host: DevHost, http_call,
                                                               caplog: pytest.LogCaptureFixture) -> None:
    reply = http_call(host.http_base_url, "GET", "/api/boom", headers=KEY)
    assert reply.status == 500
    document = json.loads(reply.body)
    assert document["error"] == "internal server error"
    assert SECRET_MARKER.encode() not in reply.body
    assert b"Traceback" not in reply.body
    assert any(SECRET_MARKER in (r.exc_text or "") for r in caplog.records)


def test_admin_api_fires_the_timer_with_the_master_key(host: DevHost, recorder: Recorder, http_call) -> None:
    path = "/admin/functions/nightly"
    body = json.dumps({"input": ""}).encode()
    assert http_call(host.http_base_url, "POST", path, body=body).status == 401
    assert http_call(host.http_base_url, "POST", path, body=body, headers=KEY).status == 401
    assert not recorder.timer_fired.is_set()
    reply = http_call(host.http_base_url, "POST", path, body=body, headers={"x-functions-key": MASTER_KEY})
    assert reply.status == 202
    assert recorder.timer_fired.wait(30)
    assert recorder.timers[0].past_due is False


def test_admin_api_unknown_function_or_http_function_is_404(host: DevHost, http_call) -> None:
    master = {"x-functions-key": MASTER_KEY}
    assert http_call(host.http_base_url, "POST", "/admin/functions/missing", b"{}", master).status == 404
    assert http_call(host.http_base_url, "POST", "/admin/functions/get_item", b"{}", master).status == 404
    assert http_call(host.http_base_url, "POST", "/admin/functions/nightly", b"not json", master).status == 400


def test_fire_timer_in_process(host: DevHost, recorder: Recorder) -> None:
    host.fire_timer("nightly", past_due=True)
    assert [t.past_due for t in recorder.timers] == [True]
    with pytest.raises(KeyError):
        host.fire_timer("get_item")
