"""Our SDK clients read the environment (proxies, CA bundle) once, not on every request (issue 13: the scan of
`os.environ` that requests' `trust_env` makes per request was the largest CPU cost of an event), and a proxy
configured at start-up is still used, with NO_PROXY honoured.

The "proxy" here is a real HTTP server on loopback that answers proxied requests (absolute-URI request lines),
so which server a request reached is what shows where it went.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from azure.core import PipelineClient
from azure.core.exceptions import IncompleteReadError
from azure.core.pipeline.transport import RequestsTransport
from azure.core.rest import HttpRequest

from remediators.arm.pipeline import ArmSession
from remediators.transport import DirectSession, StartupEnvTransport, ca_bundle


class _Recorder(ThreadingHTTPServer):
    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.lines: list[str] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.server.lines.append(self.requestline)  # type: ignore[attr-defined]
        body = b"{}"
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def servers() -> Iterator[tuple[_Recorder, _Recorder]]:
    """(proxy, origin): two recording servers."""
    started = [_Recorder(), _Recorder()]
    threads = [threading.Thread(target=s.serve_forever, daemon=True) for s in started]
    for t in threads:
        t.start()
    yield started[0], started[1]
    for s in started:
        s.shutdown()
        s.server_close()


def _get(transport: StartupEnvTransport, url: str) -> int:
    client: PipelineClient = PipelineClient(url, transport=transport)  # type: ignore[type-arg]
    return client.send_request(HttpRequest("GET", url)).status_code


def _clear_proxy_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY", "http_proxy", "https_proxy", "all_proxy",
                 "no_proxy"):
        monkeypatch.delenv(name, raising=False)


def test_requests_trust_env_is_off() -> None:
    transport = StartupEnvTransport()
    transport.open()
    assert transport.session is not None and transport.session.trust_env is False
    transport.close()


def test_a_proxy_set_at_start_up_is_used_and_a_later_change_is_not_read(
        servers: tuple[_Recorder, _Recorder], monkeypatch: pytest.MonkeyPatch) -> None:
    proxy, origin = servers
    _clear_proxy_env(monkeypatch)
    monkeypatch.setenv("HTTP_PROXY", proxy.url)
    transport = StartupEnvTransport()
    target = "http://warden-origin.invalid/first"
    assert _get(transport, target) == 200
    assert proxy.lines == ["GET http://warden-origin.invalid/first HTTP/1.1"]
    # The environment changes after start-up: this process keeps what it read (per request it would follow).
    monkeypatch.setenv("HTTP_PROXY", origin.url)
    assert _get(transport, "http://warden-origin.invalid/second") == 200
    assert proxy.lines[-1] == "GET http://warden-origin.invalid/second HTTP/1.1"
    assert origin.lines == []


def test_no_proxy_is_honoured_per_host(servers: tuple[_Recorder, _Recorder], monkeypatch: pytest.MonkeyPatch) -> None:
    proxy, origin = servers
    _clear_proxy_env(monkeypatch)
    monkeypatch.setenv("HTTP_PROXY", proxy.url)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    transport = StartupEnvTransport()
    assert _get(transport, f"{origin.url}/direct") == 200
    assert origin.lines == ["GET /direct HTTP/1.1"]
    assert proxy.lines == []


def test_without_proxy_settings_requests_go_direct_even_if_one_appears_later(
        servers: tuple[_Recorder, _Recorder], monkeypatch: pytest.MonkeyPatch) -> None:
    proxy, origin = servers
    _clear_proxy_env(monkeypatch)
    transport = StartupEnvTransport()
    assert _get(transport, f"{origin.url}/a") == 200
    monkeypatch.setenv("HTTP_PROXY", proxy.url)
    assert _get(transport, f"{origin.url}/b") == 200
    assert origin.lines == ["GET /a HTTP/1.1", "GET /b HTTP/1.1"]
    assert proxy.lines == []


def test_the_ca_bundle_is_read_when_the_transport_is_built(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CURL_CA_BUNDLE", raising=False)
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", "/etc/warden-test-ca.pem")
    assert ca_bundle() == "/etc/warden-test-ca.pem"
    assert StartupEnvTransport().connection_config.verify == "/etc/warden-test-ca.pem"
    monkeypatch.delenv("REQUESTS_CA_BUNDLE")
    assert ca_bundle() is True  # requests' own bundle


def test_every_arm_client_gets_such_a_transport() -> None:
    session = ArmSession("https://management.azure.com", credential=None)  # type: ignore[arg-type]
    assert isinstance(session.client_kwargs()["transport"], StartupEnvTransport)
    assert session.client_kwargs()["transport"] is not session.client_kwargs()["transport"]  # one per client


class _Tricky(BaseHTTPRequestHandler):
    """/redirect answers 302 to another server, /cookie sets a cookie, /cut promises 100 bytes and sends 2,
    anything else records the request's headers."""

    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        server = self.server
        server.seen.append(dict(self.headers))  # type: ignore[attr-defined]
        if self.path == "/cut":
            self.send_response(200)
            self.send_header("Content-Length", "100")
            self.end_headers()
            self.wfile.write(b"{}")
            self.wfile.flush()
            self.close_connection = True
            return
        self.send_response(302 if self.path == "/redirect" else 200)
        if self.path == "/redirect":
            self.send_header("Location", server.elsewhere)  # type: ignore[attr-defined]
        if self.path == "/cookie":
            self.send_header("Set-Cookie", "session=stolen; Path=/")
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def tricky(servers: tuple[_Recorder, _Recorder]) -> Iterator[ThreadingHTTPServer]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Tricky)
    server.seen = []  # type: ignore[attr-defined]
    server.elsewhere = servers[1].url + "/landed"  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def _url(server: ThreadingHTTPServer, path: str) -> str:
    return f"http://127.0.0.1:{server.server_address[1]}{path}"


def test_a_redirect_is_handed_back_not_followed(tricky: ThreadingHTTPServer, servers: tuple[_Recorder, _Recorder],
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """The transport never follows a Location: azure-core's RedirectPolicy and the ARM layer decide."""
    _clear_proxy_env(monkeypatch)
    transport = StartupEnvTransport()
    response = transport.send(HttpRequest("GET", _url(tricky, "/redirect")))
    assert response.status_code == 302 and response.headers["Location"].endswith("/landed")
    assert servers[1].lines == []  # the other server was never reached
    with pytest.raises(ValueError, match="never follows redirects"):
        DirectSession().request("GET", _url(tricky, "/"), allow_redirects=True)


def test_a_cookie_one_answer_sets_is_never_sent_back(tricky: ThreadingHTTPServer,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    _clear_proxy_env(monkeypatch)
    transport = StartupEnvTransport()
    assert transport.send(HttpRequest("GET", _url(tricky, "/cookie"))).status_code == 200
    assert transport.send(HttpRequest("GET", _url(tricky, "/next"), headers={"x-ms-test": "1"})).status_code == 200
    last = tricky.seen[-1]  # type: ignore[attr-defined]
    assert "Cookie" not in last and last["x-ms-test"] == "1"
    assert last["Accept-Encoding"] == "gzip, deflate"  # the session's default headers still go out


def test_a_body_cut_short_is_the_same_error_as_with_azure_cores_own_session(tricky: ThreadingHTTPServer,
                                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """azure-core's RetryPolicy retries IncompleteReadError: the lean session must raise what the stock one does."""
    _clear_proxy_env(monkeypatch)
    raised = []
    for transport in (StartupEnvTransport(), RequestsTransport(use_env_settings=False)):
        with pytest.raises(IncompleteReadError) as caught:
            transport.send(HttpRequest("GET", _url(tricky, "/cut")))
        raised.append(type(caught.value))
    assert raised[0] is raised[1]


def test_a_keyword_the_session_does_not_know_is_refused_not_dropped() -> None:
    with pytest.raises(TypeError, match="json"):
        DirectSession().request("GET", "http://127.0.0.1:9/", json={"a": 1})
