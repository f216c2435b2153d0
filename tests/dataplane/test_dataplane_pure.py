"""Endpoint validation (a hostile ARM body must not get our token), prefixes and limits."""

from __future__ import annotations

import pytest

from remediators.dataplane.endpoint import EndpointError, RedisEndpoint, endpoint_from_arm
from remediators.dataplane.ratelimit import TokenBucket
from remediators.dataplane.sampling import NO_PREFIX, OTHER, PREFIX_CHARS, SampleLimits, key_prefix
from remediators.resource_ids import CacheKind

ACR, AMR = CacheKind.REDIS, CacheKind.REDIS_ENTERPRISE


def _body(host: object, **extra: object) -> dict:
    return {"properties": {"hostName": host, **extra}}


def test_azure_hosts_are_accepted_with_their_tls_port() -> None:
    assert endpoint_from_arm(ACR, _body("Cache1.redis.cache.windows.net", sslPort=6380)) == RedisEndpoint(
        "cache1.redis.cache.windows.net", 6380)
    assert endpoint_from_arm(AMR, _body("amr1.uksouth.redis.azure.net"), {"properties": {"port": 10000}}) == \
        RedisEndpoint("amr1.uksouth.redis.azure.net", 10000)


@pytest.mark.parametrize("host", [
    "evil.example.com",
    "cache.redis.cache.windows.net.evil.example.com",
    ".redis.cache.windows.net",
    "redis.cache.windows.net",
    "cache.redis.cache.windows.net:443",
    "cache\u0430.redis.cache.windows.net",  # Cyrillic a
    "127.0.0.1",
    "",
    None,
    ["cache.redis.cache.windows.net"],
    "a..redis.cache.windows.net",
])
def test_hostile_host_names_are_refused(host: object) -> None:
    with pytest.raises(EndpointError):
        endpoint_from_arm(ACR, _body(host))


def test_an_acr_host_is_not_accepted_for_managed_redis_and_the_plain_port_is_refused() -> None:
    with pytest.raises(EndpointError):
        endpoint_from_arm(AMR, _body("cache.redis.cache.windows.net"))
    with pytest.raises(EndpointError, match="TLS port"):
        endpoint_from_arm(ACR, _body("cache.redis.cache.windows.net", sslPort=6379))
    with pytest.raises(EndpointError):
        endpoint_from_arm(AMR, _body("amr.uksouth.redis.azure.net"), {"properties": {"port": "10000"}})


def test_prefixes_are_first_segments_and_whole_names_are_never_reported() -> None:
    assert key_prefix(b"session:abc") == "session"
    assert key_prefix("user/42/profile") == "user"
    assert key_prefix(b"alice@example.com") == NO_PREFIX
    assert key_prefix(b"alice@example.com:cart") == OTHER
    assert key_prefix(b"12345:cart") == OTHER
    assert key_prefix(b":x") == OTHER
    long = key_prefix("x" * 100 + ":1")
    assert len(long) == PREFIX_CHARS + 1 and long.endswith("…")
    assert key_prefix(b"\xff\xfe:1") == OTHER


@pytest.mark.parametrize("field", ["max_keys", "batch", "max_scan_calls", "min_keys_per_prefix"])
@pytest.mark.parametrize("value", [0, -1, True, 1.5])
def test_limits_must_be_positive_integers(field: str, value: object) -> None:
    with pytest.raises(ValueError, match=field):
        SampleLimits(**{field: value})


def test_token_bucket_refuses_nonsense() -> None:
    with pytest.raises(ValueError):
        TokenBucket(0, 1)
