"""The HTTP transport every SDK client of ours is built with (ARM and Storage): the process environment is
read when the client is built, never on each request.

azure-core's default `RequestsTransport` leaves `requests.Session.trust_env` on, so every request calls
`requests.utils.get_environ_proxies` and `should_bypass_proxies`: two full scans of `os.environ`, which were
the single largest CPU cost of an event (issue 13: 1.5 s of 30 on the per-event bench). This transport
turns `trust_env` off and keeps what the environment said instead:

- `REQUESTS_CA_BUNDLE` / `CURL_CA_BUNDLE` (the CA bundle, e.g. the emulator's test CA or a corporate TLS
  proxy's) is read once, when the transport is built, and sent as `connection_verify`;
- `HTTPS_PROXY` / `HTTP_PROXY` / `ALL_PROXY` / `NO_PROXY` are honoured as requests would honour them, decided
  once per host (scheme, host, port) on the first request to it and kept for the life of the process. Each
  of our clients talks to one host (the ARM endpoint, one Storage service), so that is once per client.

A proxy or CA bundle changed while the process runs therefore takes effect on restart, like every other app
setting. Netrc credentials (another `trust_env` effect) are never wanted: ARM and Storage take tokens or
shared keys only.

Under azure-core's pipeline, `requests.Session.request` itself was the next cost (about a fifth of an event's
CPU in a profile of the per-event bench): for every call it merges cookie jars, hooks, params, auth and
environment settings that our clients never use. `DirectSession` prepares the request with requests' own
`PreparedRequest` steps (method, URL quoting, headers with the session's defaults, body) and hands it straight
to the mounted `HTTPAdapter`, which keeps urllib3's pools, TLS verification, proxies and requests' exceptions,
so azure-core's error mapping is unchanged. It never follows a redirect (azure-core's RedirectPolicy decides,
and the ARM layer refuses off-host links), and it keeps no cookies: ARM and Storage set none we need, and a
cookie one service sets must not ride along on the next request.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Mapping, MutableMapping
from typing import Any
from urllib.parse import urlsplit

import requests
from azure.core.pipeline.transport import RequestsTransport
from requests.adapters import HTTPAdapter
from requests.models import PreparedRequest
from requests.structures import CaseInsensitiveDict
from requests.utils import get_environ_proxies
from urllib3.util.retry import Retry


def ca_bundle(env: Mapping[str, str] | None = None) -> str | bool:
    """The CA bundle requests would use with `trust_env` on, or True for its built-in one."""
    env = os.environ if env is None else env
    return env.get("REQUESTS_CA_BUNDLE") or env.get("CURL_CA_BUNDLE") or True


class DirectSession(requests.Session):
    """A `requests.Session` whose `request` prepares and sends one request, without the per-call merging."""

    def __init__(self) -> None:
        super().__init__()
        self.trust_env = False
        # As azure-core mounts on the sessions it builds: urllib3 retries nothing (RetryPolicy does), follows
        # no redirect and raises on no status.
        adapter = HTTPAdapter(max_retries=Retry(total=False, redirect=False, raise_on_status=False))
        for scheme in ("https://", "http://"):
            self.mount(scheme, adapter)

    def request(  # type: ignore[override]
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str] | None = None,
        data: Any = None,
        files: Any = None,
        verify: bool | str = True,
        timeout: Any = None,
        cert: Any = None,
        allow_redirects: bool = False,
        proxies: MutableMapping[str, str] | None = None,
        stream: bool = False,
        **unused: Any,
    ) -> requests.Response:
        if allow_redirects:
            raise ValueError("DirectSession never follows redirects: azure-core's RedirectPolicy decides")
        if unused:  # azure-core passes nothing else today; a new keyword must not be dropped silently
            raise TypeError(f"DirectSession.request does not take {sorted(unused)}")
        prepared = PreparedRequest()
        prepared.prepare_method(method)
        prepared.prepare_url(url, None)
        merged = CaseInsensitiveDict(self.headers)
        merged.update(headers or {})
        prepared.prepare_headers(merged)
        prepared.prepare_body(data, files)
        prepared.prepare_hooks({})
        response = self.get_adapter(url=prepared.url).send(
            prepared, stream=stream, timeout=timeout, verify=verify, cert=cert, proxies=proxies or {})
        if not stream:
            response.content  # noqa: B018 - read the body now, as Session.send does, so the connection is released
        return response


class StartupEnvTransport(RequestsTransport):
    """`RequestsTransport` with `trust_env` off: CA bundle read at build time, proxies once per host, and a
    `DirectSession` under it."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("connection_verify", ca_bundle())
        if "session" not in kwargs:
            kwargs.update(session=DirectSession(), session_owner=True)
        super().__init__(use_env_settings=False, **kwargs)
        self._proxies: dict[tuple[str, str, int | None], dict[str, str]] = {}
        self._lock = threading.Lock()

    def proxies_for(self, url: str) -> dict[str, str]:
        """What requests would have taken from the environment for this URL, looked up once per host."""
        parts = urlsplit(url)
        key = (parts.scheme, (parts.hostname or "").lower(), parts.port)
        with self._lock:
            found = self._proxies.get(key)
            if found is None:
                found = self._proxies[key] = dict(get_environ_proxies(url))
            return found

    def send(self, request: Any, *, proxies: MutableMapping[str, str] | None = None, **kwargs: Any) -> Any:
        if proxies is None:  # a ProxyPolicy's explicit setting wins, as with the default transport
            proxies = self.proxies_for(request.url) or None
        return super().send(request, proxies=proxies, **kwargs)
