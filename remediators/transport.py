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
"""

from __future__ import annotations

import os
import threading
from collections.abc import Mapping, MutableMapping
from typing import Any
from urllib.parse import urlsplit

from azure.core.pipeline.transport import RequestsTransport
from requests.utils import get_environ_proxies


def ca_bundle(env: Mapping[str, str] | None = None) -> str | bool:
    """The CA bundle requests would use with `trust_env` on, or True for its built-in one."""
    env = os.environ if env is None else env
    return env.get("REQUESTS_CA_BUNDLE") or env.get("CURL_CA_BUNDLE") or True


class StartupEnvTransport(RequestsTransport):
    """`RequestsTransport` with `trust_env` off: CA bundle read at build time, proxies once per host."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("connection_verify", ca_bundle())
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
