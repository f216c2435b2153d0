"""A `redis.Redis` client that only speaks TLS 1.2+ with Entra ID, and announces nothing about itself.

`driver_info=None` stops redis-py sending CLIENT SETINFO, and maintenance notifications are off, so the
only commands on the wire besides AUTH are the ones the caller sends: a data access policy that grants just
SCAN and PTTL is enough (docs/deploy.md, "Key-expiry sampling").
"""

from __future__ import annotations

import ssl

import redis
from redis.credentials import CredentialProvider
from redis.maint_notifications import MaintNotificationsConfig

from .endpoint import RedisEndpoint


def connect(
    endpoint: RedisEndpoint,
    credentials: CredentialProvider,
    *,
    ca_file: str | None = None,
    timeout: float = 5.0,
) -> redis.Redis:
    """A client for one endpoint. `ca_file` is for tests against a local server with a test CA; in Azure the
    system trust store verifies the cache's certificate. Host names are always checked."""
    return redis.Redis(
        host=endpoint.host,
        port=endpoint.port,
        ssl=True,
        ssl_cert_reqs="required",
        ssl_check_hostname=True,
        ssl_ca_certs=ca_file,
        ssl_min_version=ssl.TLSVersion.TLSv1_2,
        credential_provider=credentials,
        driver_info=None,
        maint_notifications_config=MaintNotificationsConfig(enabled=False),
        socket_timeout=timeout,
        socket_connect_timeout=timeout,
        single_connection_client=True,
        protocol=2,
    )
