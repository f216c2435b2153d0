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
from azure.core.rest import HttpRequest

from remediators.arm.pipeline import ArmSession
from remediators.transport import StartupEnvTransport, ca_bundle


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
