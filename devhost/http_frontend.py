"""The HTTP side of the dev host: route, authorise, invoke, and never leak a traceback.

`HttpFrontend.handle` is free of sockets so routing and key rules can be tested directly; `serve` wraps it
in a `ThreadingHTTPServer` (one thread per request, like the host's concurrent request handling).
Deliberate deviations from the Functions host, kept because they help during development: a known route
with a method it does not accept answers 405 with `Allow` (the host answers 404, azure-functions-host
issue 10098), and a failing function answers 500 with a small JSON body naming the invocation id (the
host sends an empty 500); the traceback goes to the log only.
"""

from __future__ import annotations

import json
import logging
import threading
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import azure.functions as func

from devhost.bindings import AppSpec, HttpTriggerSpec, TriggerSpec
from devhost.invoke import call
from devhost.keys import Keys, authorised, presented_key
from devhost.routes import RouteTemplate, compile_route

log = logging.getLogger("devhost.http")

ADMIN_PREFIX = "/admin/functions/"
DEFAULT_MAX_BODY = 1 << 20

# Runs a non-HTTP function on behalf of the admin API: (spec, input text) -> None; must not block long.
AdminRunner = Callable[[TriggerSpec, str], None]


@dataclass(frozen=True)
class Reply:
    status: int
    body: bytes = b""
    headers: tuple[tuple[str, str], ...] = field(default_factory=tuple)


def json_reply(status: int, document: Mapping[str, Any], *extra: tuple[str, str]) -> Reply:
    body = json.dumps(document).encode("utf-8")
    return Reply(status, body, (("Content-Type", "application/json; charset=utf-8"), *extra))


def _reply_from(result: Any) -> Reply:
    if isinstance(result, func.HttpResponse):
        headers = list(result.headers.items())
        if not any(name.lower() == "content-type" for name, _ in headers):
            headers.append(("Content-Type", f"{result.mimetype}; charset={result.charset}"))
        return Reply(result.status_code, result.get_body() or b"", tuple(headers))
    if isinstance(result, str | bytes):
        body = result.encode("utf-8") if isinstance(result, str) else result
        return Reply(200, body, (("Content-Type", "text/plain; charset=utf-8"),))
    raise TypeError(f"an HTTP function returned {type(result).__name__}, not func.HttpResponse")


class HttpFrontend:
    def __init__(self, app: AppSpec, route_prefix: str, keys: Keys, run_admin: AdminRunner) -> None:
        self._keys = keys
        self._app = app
        self._run_admin = run_admin
        compiled = [(compile_route(route_prefix, spec.route), spec) for spec in app.http]
        self._routes: list[tuple[RouteTemplate, HttpTriggerSpec]] = sorted(
            compiled, key=lambda pair: pair[0].precedence
        )

    def handle(self, method: str, target: str, headers: Mapping[str, str], body: bytes, base_url: str) -> Reply:
        parts = urlsplit(target)
        params = dict(parse_qsl(parts.query, keep_blank_values=True))
        if parts.path.lower().startswith(ADMIN_PREFIX):
            return self._admin(method, parts.path[len(ADMIN_PREFIX):], headers, params, body)
        matches = [(spec, values) for template, spec in self._routes
                   if (values := template.match(parts.path)) is not None]
        if not matches:
            return Reply(HTTPStatus.NOT_FOUND)
        allowed = [(spec, values) for spec, values in matches if not spec.methods or method in spec.methods]
        if not allowed:
            methods = sorted({m for spec, _ in matches for m in spec.methods})
            return Reply(HTTPStatus.METHOD_NOT_ALLOWED, b"", (("Allow", ", ".join(methods)),))
        spec, route_params = allowed[0]
        if not authorised(spec.auth_level, presented_key(headers, params), self._keys):
            return Reply(HTTPStatus.UNAUTHORIZED)
        request = func.HttpRequest(
            method=method,
            url=base_url + target,
            headers=dict(headers),
            params=params,
            route_params=route_params,
            body=body,
        )
        return self._invoke(spec, request)

    def _invoke(self, spec: HttpTriggerSpec, request: func.HttpRequest) -> Reply:
        invocation = uuid.uuid4()
        log.info("Executing 'Functions.%s' (Reason='This function was programmatically called via the host "
                 "APIs.', Id=%s)", spec.name, invocation)
        try:
            reply = _reply_from(call(spec.user_function, spec.arg_name, request))
        except Exception:  # the caller gets a generic 500; the detail stays in the log
            log.exception("Executed 'Functions.%s' (Failed, Id=%s)", spec.name, invocation)
            return json_reply(500, {"error": "internal server error", "invocationId": str(invocation)})
        log.info("Executed 'Functions.%s' (Succeeded, Id=%s, status %d)", spec.name, invocation, reply.status)
        return reply

    def _admin(self, method: str, name: str, headers: Mapping[str, str], params: Mapping[str, str],
               body: bytes) -> Reply:
        if not authorised("admin", presented_key(headers, params), self._keys):
            return Reply(HTTPStatus.UNAUTHORIZED)
        spec = self._app.by_name(name.strip("/"))
        if spec is None or isinstance(spec, HttpTriggerSpec):
            return Reply(HTTPStatus.NOT_FOUND)
        if method != "POST":
            return Reply(HTTPStatus.METHOD_NOT_ALLOWED, b"", (("Allow", "POST"),))
        try:
            document = json.loads(body or b"{}")
        except (UnicodeDecodeError, json.JSONDecodeError):
            return json_reply(400, {"error": 'body must be JSON like {"input": ""}'})
        if not isinstance(document, dict) or not isinstance(document.get("input", ""), str):
            return json_reply(400, {"error": 'body must be JSON like {"input": ""}'})
        self._run_admin(spec, document.get("input", ""))
        return Reply(HTTPStatus.ACCEPTED)


def _handler_class(frontend: HttpFrontend, max_body: int) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "redis-warden-devhost"
        # Headers and body go out in two writes; with Nagle on, the second waits for the client's delayed ACK
        # (about 40 ms on Linux) on every kept-alive request. ARM does not stall like that.
        disable_nagle_algorithm = True

        def _handle(self) -> None:
            try:
                reply = self._reply()
            except Exception:  # a dev-host bug still answers 500, never a dropped connection or traceback
                log.exception("failed to handle %s %s", self.command, self.path)
                self.close_connection = True
                reply = json_reply(500, {"error": "internal server error"})
            self.send_response(reply.status)
            for name, value in reply.headers:
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(reply.body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(reply.body)

        def _reply(self) -> Reply:
            if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
                self.close_connection = True
                return Reply(HTTPStatus.LENGTH_REQUIRED)
            try:
                length = int(self.headers.get("Content-Length") or 0)
            except ValueError:
                self.close_connection = True
                return Reply(HTTPStatus.BAD_REQUEST)
            if length < 0:
                self.close_connection = True
                return Reply(HTTPStatus.BAD_REQUEST)
            if length > max_body:
                self.close_connection = True  # the unread body must not be parsed as a next request
                return json_reply(413, {"error": f"request body larger than {max_body} bytes"})
            body = self.rfile.read(length) if length else b""
            headers: dict[str, str] = {}
            for name, value in self.headers.items():
                headers[name] = f"{headers[name]}, {value}" if name in headers else value
            host, port = self.server.server_address[:2]
            return frontend.handle(self.command, self.path, headers, body, f"http://{host}:{port}")

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _handle

        def log_message(self, format: str, *args: Any) -> None:
            log.debug("%s - %s", self.address_string(), format % args)

    return Handler


class HttpServer:
    """Serve the frontend on 127.0.0.1 in a background thread."""

    def __init__(self, frontend: HttpFrontend, port: int = 0, max_body: int = DEFAULT_MAX_BODY) -> None:
        self._server = ThreadingHTTPServer(("127.0.0.1", port), _handler_class(frontend, max_body))
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.05,), name="devhost-http", daemon=True
        )

    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()
