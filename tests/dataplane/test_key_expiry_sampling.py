"""Key-expiry sampling against a real redis-server over TLS, authenticated the way Entra ID is.

What this proves and what it cannot: the server is Debian's redis-server with TLS and an ACL user whose name
is an Entra object id and whose password is the token our credential provider hands over, so the
`redis-entraid` wiring (token requested for the Redis scope, `oid` sent as the user name, TLS with host-name
checks) and the command set are real. Entra itself is not reachable offline: that Azure accepts the token is
not tested here.
"""

from __future__ import annotations

import ssl

import pytest
import redis

from devhost.redis_server import LocalRedis, StaticEntraCredential
from remediators.dataplane.auth import REDIS_SCOPE, entra_credential_provider
from remediators.dataplane.client import connect
from remediators.dataplane.endpoint import RedisEndpoint
from remediators.dataplane.ratelimit import TokenBucket
from remediators.dataplane.sampling import NO_PREFIX, OTHER, SampleLimits, sample_key_expiry


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def _bucket(rate: float = 1e6, burst: float = 1e6) -> TokenBucket:
    clock = FakeClock()
    return TokenBucket(rate, burst, clock=clock, sleep=clock.sleep)


def _client(server: LocalRedis, credential: StaticEntraCredential, *, ca: str | None = "default") -> redis.Redis:
    return connect(RedisEndpoint(server.host, server.tls_port), entra_credential_provider(credential),
                   ca_file=server.ca_file if ca == "default" else ca)


def _seed(seeder: redis.Redis) -> None:
    pipe = seeder.pipeline()
    for i in range(200):
        pipe.set(f"session:{i}", "secret-value")
    for i in range(50):
        pipe.set(f"cache:{i}", "v", ex=3600)
    for i in range(50):
        pipe.set(f"alice{i}@example.com", "personal")
    for i in range(3):
        pipe.set(f"bob{i}:cart", "personal")  # a namespace-looking prefix too rare to report
    pipe.execute()


def test_sample_reports_share_without_ttl_and_top_prefixes(server, credential, seeder) -> None:
    _seed(seeder)
    client = _client(server, credential)
    report = sample_key_expiry(client, SampleLimits(max_keys=1000, batch=50), _bucket())
    assert (report.sampled, report.without_ttl, report.complete) == (303, 253, True)
    assert report.share_without_ttl == pytest.approx(253 / 303)
    top = {p.prefix: (p.without_ttl, p.sampled) for p in report.top_prefixes}
    assert top == {"session": (200, 200), NO_PREFIX: (50, 50), OTHER: (3, 3)}
    assert "alice" not in str(report.as_dict()) and "bob" not in str(report.as_dict())
    assert credential.scopes and all(s == (REDIS_SCOPE,) for s in credential.scopes)
    client.close()


def test_sample_is_bounded_by_max_keys(server, credential, seeder) -> None:
    _seed(seeder)
    client = _client(server, credential)
    report = sample_key_expiry(client, SampleLimits(max_keys=40, batch=10), _bucket())
    assert report.sampled == 40 and not report.complete
    assert report.commands == report.scan_calls + 40
    client.close()


def test_the_sampler_needs_only_scan_and_pttl(server, credential, seeder) -> None:
    """The ACL user may run SCAN and PTTL only: sampling works, and reading a value is refused, so the
    sample above would have failed had the sampler sent GET, TYPE, OBJECT or CLIENT SETINFO."""
    _seed(seeder)
    client = _client(server, credential)
    sample_key_expiry(client, SampleLimits(max_keys=20, batch=10), _bucket())
    with pytest.raises(redis.exceptions.NoPermissionError):
        client.get("session:1")
    client.close()


def test_a_token_for_another_object_id_is_refused(server, seeder) -> None:
    stranger = StaticEntraCredential("00000000-0000-0000-0000-000000000000")
    with pytest.raises(redis.exceptions.AuthenticationError):
        _client(server, stranger).scan(0)


def test_a_certificate_from_an_unknown_ca_is_refused(server, credential) -> None:
    with pytest.raises(redis.exceptions.ConnectionError) as caught:
        _client(server, credential, ca=None).scan(0)  # the system store does not trust the test CA
    assert isinstance(caught.value.__context__, ssl.SSLError) or "certificate" in str(caught.value).lower()


def test_the_rate_limit_paces_every_command(server, credential, seeder) -> None:
    _seed(seeder)
    clock = FakeClock()
    bucket = TokenBucket(rate=100, burst=10, clock=clock, sleep=clock.sleep)
    report = sample_key_expiry(_client(server, credential), SampleLimits(max_keys=200, batch=10), bucket)
    # 10 commands are free (the burst); every further one costs 1/100 s of the fake clock.
    assert clock.now == pytest.approx((report.commands - 10) / 100, rel=0.01)
    assert report.commands >= 200
