"""The HTTPS server: ARM routes, the managed-identity endpoint and the emulator's own `/_emulator/requests`.

Stdlib only (`ThreadingHTTPServer` + `ssl`) with a throwaway `trustme` CA whose PEM is written to a file,
so callers trust it through the standard `REQUESTS_CA_BUNDLE` exactly as they would trust a corporate proxy.
Every answer carries `x-ms-request-id` and `x-ms-correlation-request-id` like ARM's.
"""

from __future__ import annotations

import contextlib
import copy
import json
import secrets
import shutil
import socket
import ssl
import struct
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import trustme

from .authorization import GRAPH_READ_ACTION, Authorization, UnmappedRequest, authorization_failed
from .calls import Call, Reply, WriteEvent
from .diagnostics_api import DiagnosticsApi
from .enterprise_api import EnterpriseApi, enterprise_routes, load_enterprise_spec
from .enterprise_fleet import load_clusters
from .enterprise_state import EnterpriseStore
from .errors import ArmHttpError
from .events import EventPublisher, RequestContext, build_event
from .faults import ChaosSpec, FaultInjector, Injection, RateLimits, chaos_from
from .fleet import load_fleet
from .identity import IdentityEndpoint
from .principals import DEFAULT_PRINCIPALS, TENANT_ID, WARDEN, Principal
from .redis_api import RedisApi
from .requestlog import RequestLog
from .resource_graph import ResourceGraphApi, UserQuota, fleet_rows
from .routes import Router
from .spec import load_specs
from .store import Store
from .tokens import TokenError, mint, verify

IDENTITY_PATH = "/msi/token"
REQUESTS_PATH = "/_emulator/requests"


class _HttpServer(ThreadingHTTPServer):
    daemon_threads = True
    emulator: EmulatorServer

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Clients that drop a TLS connection mid-handshake are normal; nothing to report."""


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _HttpServer
    timeout = 60
    # Headers and body go out in two writes; with Nagle on, the second waits for the client's delayed ACK
    # (about 40 ms on Linux) on every kept-alive request. ARM does not stall like that.
    disable_nagle_algorithm = True

    def log_message(self, format: str, *args: Any) -> None:
        """The request log replaces http.server's stderr lines."""

    def do_GET(self) -> None:
        self.server.emulator._serve(self, "GET")

    def do_PUT(self) -> None:
        self.server.emulator._serve(self, "PUT")

    def do_PATCH(self) -> None:
        self.server.emulator._serve(self, "PATCH")

    def do_DELETE(self) -> None:
        self.server.emulator._serve(self, "DELETE")

    def do_POST(self) -> None:
        self.server.emulator._serve(self, "POST")


class EmulatorServer:
    """A strict local ARM for one fleet. Use as a context manager, or `start()` / `stop()`."""

    def __init__(
        self,
        fleet: str | Path | Sequence[Mapping[str, Any]],
        *,
        lro_shape: str = "recorded",
        queue_connection_string: str | None = None,
        event_queue: str = "warden-events",
        event_schema: str = "eventgrid",
        exclude_appids: Iterable[str] = (),
        principals: Sequence[Principal] = DEFAULT_PRINCIPALS,
        host: str = "127.0.0.1",
        port: int = 0,
        page_size: int = 2,
        lro_polls: int = 0,
        lro_seconds: float = 0.0,
        retry_after: int | None = 0,
        busy_retry_after: int | None = None,
        request_log: str | Path | None = None,
        ca_dir: str | Path | None = None,
        token_lifetime: float = 3600.0,
        latency: float = 0.0,
        chaos: ChaosSpec | Mapping[str, Any] | None = None,
        rate_limits: RateLimits | None = None,
        authorization: Authorization | None = None,
        enforce_roles: bool = True,
        management_groups: Mapping[str, Sequence[str]] | None = None,
        graph_quota: UserQuota | None = None,
        graph_hostile_rows: Sequence[Mapping[str, Any]] = (),
    ) -> None:
        """`latency` (seconds) delays every ARM call's answer, as a real round trip to ARM would, so the
        demo and benchmarks see realistic overlap; it can be changed while running (`server.latency`).

        The warden's identity (`principals.WARDEN`) is authorised as ARM would with the custom roles
        `infra/` deploys (`emulator.authorization`; `authorization` overrides them, e.g. a role missing an
        action); `enforce_roles=False` turns that off. Other principals play people with Owner rights."""
        self.store = Store(lro_polls=lro_polls, lro_seconds=lro_seconds)
        self.store.load(load_fleet(fleet))
        specs = load_specs()
        self.redis = RedisApi(self.store, specs["redis"], lro_shape=lro_shape, page_size=page_size,
                              retry_after=retry_after, busy_retry_after=busy_retry_after)
        # Azure Managed Redis (Microsoft.Cache/redisEnterprise): same store lock, own state and routes.
        self.enterprise_store = EnterpriseStore(self.store)
        self.enterprise_store.load(load_clusters(fleet))
        self.enterprise = EnterpriseApi(self.enterprise_store, load_enterprise_spec(), lro_shape=lro_shape,
                                        page_size=page_size, retry_after=retry_after)
        self.router = Router(self.redis, DiagnosticsApi(self.redis, specs["diagnosticSettings"]),
                             enterprise_routes(self.enterprise, specs["diagnosticSettings"]))
        self.lro_shape = lro_shape
        self.principals = tuple(principals)
        self._key = secrets.token_bytes(32)
        self.identity_header = secrets.token_urlsafe(24)
        self.identity = IdentityEndpoint(self.principals, self._key, self.identity_header, token_lifetime)
        self.publisher = EventPublisher(queue_connection_string, event_queue, schema=event_schema,
                                        exclude_appids=exclude_appids)
        self.log = RequestLog(request_log)
        self.latency = float(latency)
        self.faults = FaultInjector(self.store, chaos_from(chaos), rate_limits)  # emulator.faults
        self.authorization = (authorization or Authorization.from_infra()) if enforce_roles else None
        # Azure Resource Graph over the same fleet (emulator.resource_graph); its own per-user quota.
        self.resource_graph = ResourceGraphApi(self._graph_rows, TENANT_ID, management_groups=management_groups,
                                               quota=graph_quota, hostile_rows=graph_hostile_rows)
        self._host, self._port = host, port
        self._own_ca_dir = ca_dir is None
        self._ca_dir = Path(ca_dir) if ca_dir else Path(tempfile.mkdtemp(prefix="warden-emulator-ca-"))
        self._httpd: _HttpServer | None = None
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------------------------------------ lifecycle

    def start(self) -> EmulatorServer:
        ca = trustme.CA()
        self._ca_dir.mkdir(parents=True, exist_ok=True)
        ca.cert_pem.write_to_path(str(self.ca_bundle))
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        ca.issue_cert("127.0.0.1", "localhost").configure_cert(context)
        httpd = _HttpServer((self._host, self._port), _Handler)
        httpd.socket = context.wrap_socket(httpd.socket, server_side=True, do_handshake_on_connect=False)
        httpd.emulator = self
        self._httpd = httpd
        self._thread = threading.Thread(target=httpd.serve_forever, name="arm-emulator", daemon=True,
                                        kwargs={"poll_interval": 0.05})
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None
        self.publisher.close()
        if self._own_ca_dir:
            shutil.rmtree(self._ca_dir, ignore_errors=True)

    def __enter__(self) -> EmulatorServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ------------------------------------------------------------------------------------------ facts for clients

    @property
    def port(self) -> int:
        if self._httpd is None:
            raise RuntimeError("the emulator is not running")
        return int(self._httpd.server_address[1])

    @property
    def arm_endpoint(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    @property
    def identity_endpoint(self) -> str:
        return f"{self.arm_endpoint}{IDENTITY_PATH}"

    @property
    def ca_bundle(self) -> str:
        return str(self._ca_dir / "emulator-ca.pem")

    def ready_line(self) -> dict[str, str]:
        return {"arm_endpoint": self.arm_endpoint, "ca_bundle": self.ca_bundle,
                "identity_endpoint": self.identity_endpoint, "identity_header": self.identity_header}

    # ------------------------------------------------------------------------------------------ inspection

    def requests(self) -> list[dict[str, Any]]:
        return self.log.entries()

    def events(self) -> list[dict[str, Any]]:
        """Every event delivered (also written to the queue when one is configured)."""
        return self.publisher.delivered()

    def cache(self, cache_id: str) -> dict[str, Any] | None:
        """Current state of a cache in the fleet format (GET body plus children), or None once deleted.
        Reading it is not a GET: it advances no provisioning sequence or operation."""
        with self.store.lock:
            state = self.store.caches.get(cache_id.lower())
            if state is None:
                return None
            self.store.refresh(state)  # an operation whose time is up has finished, polled or not
            out = copy.deepcopy(state.body)
            out["firewallRules"] = [copy.deepcopy(r) for r in state.rules.values()]
            out["diagnosticSettings"] = [copy.deepcopy(s) for s in state.settings.values()]
            return out

    def cluster(self, cluster_id: str) -> dict[str, Any] | None:
        """An Azure Managed Redis cluster in the fleet format (GET body plus `databases`, each with its
        `diagnosticSettings` and `accessPolicyAssignments`), or None. Not a GET: advances nothing."""
        with self.store.lock:
            state = self.enterprise_store.clusters.get(cluster_id.lower())
            if state is None:
                return None
            out = copy.deepcopy(state.body)
            out["databases"] = [
                {**copy.deepcopy(db.body), "diagnosticSettings": [copy.deepcopy(s) for s in db.settings.values()],
                 "accessPolicyAssignments": copy.deepcopy(db.assignments)}
                for db in state.databases.values()
            ]
            return out

    def _graph_rows(self) -> list[dict[str, Any]]:
        with self.store.lock:
            bodies = [state.body for state in self.store.caches.values()]
            bodies += [state.body for state in self.enterprise_store.clusters.values()]
            bodies += list(self.store.scheduled_query_rules.values())
            return fleet_rows(bodies, TENANT_ID)

    def mint_token(self, principal: Principal = WARDEN, *, lifetime: float = 3600.0,
                   audience: str = "https://management.azure.com/") -> str:
        """A token signed by this server, e.g. an expired one (negative lifetime) for tests."""
        return mint(principal, self._key, audience=audience, lifetime=lifetime)[0]

    # ------------------------------------------------------------------------------------------ requests

    def _principal_for(self, claims: Mapping[str, Any]) -> Principal | None:
        oid = str(claims.get("oid", "")).lower()
        return next((p for p in self.principals if p.object_id.lower() == oid), None)

    def _serve(self, handler: _Handler, method: str) -> None:
        started = time.time()
        url = urlsplit(handler.path)
        path = unquote(url.path)
        query = {k.lower(): v[-1] for k, v in parse_qs(url.query, keep_blank_values=True).items()}
        raw = _read_body(handler)
        request_id = str(uuid.uuid4())
        correlation_id = handler.headers.get("x-ms-correlation-request-id") or str(uuid.uuid4())
        claims: Mapping[str, Any] = {}
        reply: Reply
        error_code: str | None = None
        injection: Injection | None = None
        fault_headers: dict[str, str] = {}
        if path == REQUESTS_PATH and method == "GET":
            reply = Reply(200, self.log.entries())
        elif path == IDENTITY_PATH and method == "GET":
            status, body = self.identity.handle(query, handler.headers.get("X-IDENTITY-HEADER"))
            reply = Reply(status, body)
        else:
            call = Call(method, path, query, raw, self.arm_endpoint)
            if self.latency > 0:
                time.sleep(self.latency)  # before the state change: the call takes effect late, as over a WAN
            try:
                claims = verify(handler.headers.get("Authorization"), self._key)
                self._authorize(method, path, raw, claims)
                injection, fault_headers = self.faults.before(method, path, claims)
                if self.resource_graph.handles(method, path):
                    reply = self.resource_graph.query(call, str(claims.get("oid") or ""), self._graph_visible(claims))
                else:
                    reply = _injected_reply(injection) or self.router.dispatch(call)
            except TokenError as exc:
                error_code = exc.code
                challenge = (f'Bearer authorization_uri="https://login.microsoftonline.com/{TENANT_ID}", '
                             f'error="invalid_token", error_description="{exc.message}"')
                reply = Reply(401, {"error": {"code": exc.code, "message": exc.message}},
                              headers={"WWW-Authenticate": challenge})
            except ArmHttpError as exc:
                error_code = exc.code
                reply = Reply(exc.status, exc.body(), headers=dict(exc.headers))
            if reply.event is not None and not self.publisher.excluded(claims):
                self._publish(reply.event, claims, handler, method, correlation_id)
        self.log.record({
            "time": datetime.fromtimestamp(started, UTC).isoformat(),
            "end": datetime.fromtimestamp(time.time(), UTC).isoformat(),  # answered after this instant
            "method": method,
            "path": path,
            "api_version": query.get("api-version"),
            "caller": {"oid": claims.get("oid"), "appid": claims.get("appid"),
                       "name": claims.get("name") or self._display_name(claims)},
            "status": reply.status,
            "error": error_code,
            "request_id": request_id,
            "correlation_id": correlation_id,
            "user_agent": handler.headers.get("User-Agent"),
            "body": _json_or_none(raw) if method in ("PUT", "PATCH", "POST") else None,
            **({"fault": injection.label} if injection is not None else {}),
        })
        if injection is not None and injection.action == "reset":
            _reset_connection(handler)
            return
        if fault_headers:
            reply = Reply(reply.status, reply.body, {**reply.headers, **fault_headers}, reply.event)
        self._write(handler, reply, request_id, correlation_id)

    def _authorize(self, method: str, path: str, raw: bytes, claims: Mapping[str, Any]) -> None:
        """ARM's RBAC check of the warden's own calls, before the resource provider sees them."""
        if self.authorization is None or str(claims.get("oid", "")).lower() != WARDEN.object_id.lower():
            return
        if not self.router.resolves(method, path):
            return  # no such resource type or method: ARM's own 404 / 405 answers first
        try:
            self.authorization.authorize(method, path, _json_or_none(raw), str(claims["oid"]), str(claims["oid"]))
        except UnmappedRequest as exc:
            raise ArmHttpError(500, "EmulatorUnmappedOperation", str(exc)) from exc

    def _graph_visible(self, claims: Mapping[str, Any]) -> Callable[[Mapping[str, Any]], bool] | None:
        """ARG for the warden: the query is authorised as `Microsoft.ResourceGraph/resources/read`, and rows are
        only those whose resource the warden's roles may read (`<namespace>/<type>/read` on the row's id)."""
        if self.authorization is None or str(claims.get("oid", "")).lower() != WARDEN.object_id.lower():
            return None
        auth = self.authorization
        if not auth.allows(GRAPH_READ_ACTION, "/"):
            raise authorization_failed(str(claims["oid"]), str(claims["oid"]), GRAPH_READ_ACTION, "/")

        def visible(row: Mapping[str, Any]) -> bool:
            return auth.allows(f"{row['type']}/read", str(row["id"]))

        return visible

    def _display_name(self, claims: Mapping[str, Any]) -> str | None:
        principal = self._principal_for(claims)
        return principal.display_name if principal else None

    def _publish(self, write: WriteEvent, claims: Mapping[str, Any], handler: _Handler, method: str,
                 correlation_id: str) -> None:
        principal = self._principal_for(claims)
        subject = write.subject
        parts = subject.split("/")
        subscription_id = parts[2] if len(parts) > 2 else ""
        context = RequestContext(
            method=method,
            url=f"{self.arm_endpoint}{handler.path}",
            correlation_id=correlation_id,
            client_request_id=handler.headers.get("x-ms-client-request-id") or str(uuid.uuid4()),
            client_ip=handler.client_address[0],
        )
        event = build_event(
            write, claims, context,
            subscription_id=subscription_id,
            tenant_id=str(claims.get("tid", TENANT_ID)),
            role=principal.role if principal else "Contributor",
            principal_type=principal.principal_type if principal else "User",
            schema=self.publisher.schema,
        )
        self.publisher.publish(event)

    @staticmethod
    def _write(handler: _Handler, reply: Reply, request_id: str, correlation_id: str) -> None:
        payload = b"" if reply.body is None else json.dumps(reply.body).encode("utf-8")
        handler.send_response(reply.status)
        handler.send_header("x-ms-request-id", request_id)
        handler.send_header("x-ms-correlation-request-id", correlation_id)
        client_request_id = handler.headers.get("x-ms-client-request-id")
        if client_request_id:
            handler.send_header("x-ms-client-request-id", client_request_id)
        for name, value in reply.headers.items():
            handler.send_header(name, value)
        if payload:
            handler.send_header("Content-Type", "application/json; charset=utf-8")
        handler.send_header("Content-Length", str(len(payload)))
        handler.end_headers()
        if payload:
            handler.wfile.write(payload)


def _injected_reply(injection: Injection | None) -> Reply | None:
    """An injected fault as the handler's answer: raise ARM's error, answer nothing (reset), or serve late."""
    if injection is None:
        return None
    if injection.action == "error":
        raise ArmHttpError(injection.status, injection.code, injection.message, headers=dict(injection.headers))
    if injection.action == "reset":
        return Reply(0)
    time.sleep(injection.delay_seconds)  # `delay`: then served normally
    return None


def _reset_connection(handler: BaseHTTPRequestHandler) -> None:
    """Close the client's connection with a TCP RST and no HTTP answer, as a dropped load balancer would."""
    handler.close_connection = True
    with contextlib.suppress(OSError):
        handler.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        handler.connection.close()


def _read_body(handler: BaseHTTPRequestHandler) -> bytes:
    """The request body, sent with Content-Length or chunked (streamed SDK bodies are chunked)."""
    if "chunked" in (handler.headers.get("Transfer-Encoding") or "").lower():
        chunks = []
        while True:
            size = int(handler.rfile.readline().split(b";", 1)[0].strip() or b"0", 16)
            if size == 0:
                while handler.rfile.readline() not in (b"\r\n", b"\n", b""):
                    pass  # trailers
                return b"".join(chunks)
            chunks.append(handler.rfile.read(size))
            handler.rfile.readline()
    length = int(handler.headers.get("Content-Length") or 0)
    return handler.rfile.read(length) if length else b""


def _json_or_none(raw: bytes) -> Any:
    if not raw:
        return None
    try:
        return json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        return raw.decode("utf-8", errors="replace")
