"""A local HTTPS stand-in for a data collection endpoint's Logs Ingestion API. It is OUR EMULATION, not
Azure: it proves that our code drives the real `azure-monitor-ingestion` client through the documented
contract, not how the service behaves beyond it.

The contract it implements, and where each part comes from:
- reference/monitor-ingestion/DataCollectionRules.json (Azure/azure-rest-api-specs,
  specification/monitor/data-plane/ingestion/stable/2023-01-01): `POST
  {endpoint}/dataCollectionRules/{ruleId}/streams/{stream}?api-version=2023-01-01`, OAuth2 scope
  `https://monitor.azure.com/.default`, optional `Content-Encoding: gzip` ("always 'gzip'"), a body that is
  a JSON array of objects, `204` on success, otherwise an `ErrorResponse` `{"error": {"code", "message"}}`
  with an `x-ms-error-code` header;
- the SDK's own client (azure/monitor/ingestion/_helpers.py): it gzips each chunk and keeps chunks at or
  under 1 MiB of JSON, which this endpoint enforces (413) as the service documents a 1 MB call limit.
What is emulated without evidence, and says so in its error message: the codes for an unknown rule or
stream (404), a missing or wrong token (401), and a row whose column has the wrong type (400): the service
answers some error for these; the exact codes are ours. Rows are checked against the stream declaration the
test passes in (the same columns infra/ deploys).
"""

from __future__ import annotations

import gzip
import json
import shutil
import ssl
import tempfile
import threading
from collections.abc import Mapping
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import trustme

API_VERSION = "2023-01-01"
MAX_BODY = 1024 * 1024
TOKEN = "logs-ingestion-test-token"


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    endpoint: LogsIngestionEndpoint


def _type_ok(kind: str, value: Any) -> bool:
    if value is None:
        return True
    if kind == "string":
        return isinstance(value, str)
    if kind in ("int", "long"):
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == "real":
        return isinstance(value, int | float) and not isinstance(value, bool)
    if kind == "boolean":
        return isinstance(value, bool)
    if kind == "datetime":
        if not isinstance(value, str):
            return False
        try:
            datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return False
        return True
    return kind == "dynamic"


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"
    # Headers and body go out in two writes; with Nagle on, the second waits for the client's delayed ACK
    # (about 40 ms on Linux) on every kept-alive request. ARM does not stall like that.
    disable_nagle_algorithm = True

    def log_message(self, format: str, *args: Any) -> None:
        return

    def _error(self, status: int, code: str, message: str) -> None:
        body = json.dumps({"error": {"code": code, "message": message}}).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("x-ms-error-code", code)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self) -> None:
        ep = self.server.endpoint
        url = urlparse(self.path)
        parts = url.path.strip("/").split("/")
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length)
        ep.requests.append({"path": url.path, "query": url.query, "headers": dict(self.headers), "size": length})
        if parse_qs(url.query).get("api-version") != [API_VERSION]:
            return self._error(400, "InvalidApiVersion", f"api-version must be {API_VERSION} (emulated code)")
        if self.headers.get("Authorization") != f"Bearer {TOKEN}":
            return self._error(401, "InvalidToken", "missing or invalid bearer token (emulated code)")
        if len(parts) != 4 or parts[0] != "dataCollectionRules" or parts[2] != "streams":
            return self._error(404, "NotFound", "no such path (emulated code)")
        if parts[1] != ep.rule_id:
            return self._error(404, "InvalidDataCollectionRule", f"unknown rule {parts[1]!r} (emulated code)")
        if parts[3] not in ep.streams:
            return self._error(404, "InvalidStream", f"unknown stream {parts[3]!r} (emulated code)")
        if ep.fail_next:
            status = ep.fail_next.pop(0)
            return self._error(status, "ServiceUnavailable", "injected failure")
        if self.headers.get("Content-Encoding", "").lower() == "gzip":
            raw = gzip.decompress(raw)
        if len(raw) > MAX_BODY:
            return self._error(413, "ContentLengthLimitExceeded", f"body is {len(raw)} bytes, over 1 MiB")
        try:
            rows = json.loads(raw)
        except ValueError:
            return self._error(400, "InvalidJson", "body is not JSON")
        if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
            return self._error(400, "InvalidPayload", "body must be a JSON array of objects")
        columns = ep.streams[parts[3]]
        for i, r in enumerate(rows):
            unknown = sorted(set(r) - set(columns))
            if unknown:
                return self._error(400, "InvalidColumn", f"row {i}: columns not in the stream: {unknown} "
                                   "(emulated code; the service drops them)")
            bad = [k for k, v in r.items() if not _type_ok(columns[k], v)]
            if bad:
                return self._error(400, "InvalidColumnType", f"row {i}: wrong type for {bad} (emulated code)")
        ep.rows.setdefault(parts[3], []).extend(rows)
        self.send_response(204)
        self.send_header("Content-Length", "0")
        self.end_headers()


class LogsIngestionEndpoint:
    """Serves one data collection rule with the given streams ({stream: {column: type}})."""

    def __init__(self, rule_id: str, streams: Mapping[str, Mapping[str, str]]) -> None:
        self.rule_id = rule_id
        self.streams = {name: dict(cols) for name, cols in streams.items()}
        self.rows: dict[str, list[dict[str, Any]]] = {}
        self.requests: list[dict[str, Any]] = []
        self.fail_next: list[int] = []  # statuses to answer the next calls with (retries, outages)
        self._dir = Path(tempfile.mkdtemp(prefix="warden-logs-ingestion-"))
        self.ca_bundle = self._dir / "ca.pem"
        self._httpd: _Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        assert self._httpd is not None
        return f"https://127.0.0.1:{self._httpd.server_address[1]}"

    def start(self) -> LogsIngestionEndpoint:
        ca = trustme.CA()
        ca.cert_pem.write_to_path(str(self.ca_bundle))
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        ca.issue_cert("127.0.0.1").configure_cert(context)
        httpd = _Server(("127.0.0.1", 0), _Handler)
        httpd.socket = context.wrap_socket(httpd.socket, server_side=True)
        httpd.endpoint = self
        self._httpd = httpd
        self._thread = threading.Thread(target=httpd.serve_forever, name="logs-ingestion", daemon=True,
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
        shutil.rmtree(self._dir, ignore_errors=True)

    def __enter__(self) -> LogsIngestionEndpoint:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
