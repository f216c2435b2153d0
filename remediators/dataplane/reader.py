"""Take one cache's key-expiry sample for a reconcile: endpoint, Entra connection, bounded sample, close.

The engine calls `KeyExpiryReader.sample` only for scans of opted-in scopes (remediators/inputs.py). Every
way the sample can fail (a host name we must not send a token to, no data access policy: NOPERM or a
refused AUTH, the cache unreachable, the identity endpoint failing) becomes a reason on the snapshot, so
the rule reports `unknown` with it and the audit trail shows why; nothing is retried here: the next scan
samples again.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from azure.core.credentials import TokenCredential

from ..models import CacheSnapshot
from ..resource_ids import CacheKind, ResourceId
from .endpoint import EndpointError, RedisEndpoint, endpoint_from_arm
from .ratelimit import TokenBucket
from .sampling import SampleLimits, SampleReport, sample_key_expiry

if TYPE_CHECKING:
    import redis

DEFAULT_RATE = 200.0  # commands a second per cache


@dataclass(frozen=True)
class SampleOutcome:
    report: SampleReport | None
    error: str | None

    def snapshot_fields(self) -> dict[str, Any]:
        return {"key_expiry": self.report, "key_expiry_error": self.error}


class KeyExpiryReader:
    """`endpoints` overrides where a cache is reached (the demo and tests point caches at a local
    redis-server, `ca_file` is its test CA); in Azure both stay None and the ARM host name is validated."""

    def __init__(self, credential: TokenCredential, *, ca_file: str | None = None,
                 endpoints: Callable[[ResourceId], RedisEndpoint | None] | None = None,
                 timeout: float = 5.0) -> None:
        self._credential = credential
        self._ca_file = ca_file
        self._endpoints = endpoints
        self._timeout = timeout

    def _endpoint(self, snapshot: CacheSnapshot) -> RedisEndpoint:
        if self._endpoints is not None:
            override = self._endpoints(snapshot.cache_id)
            if override is not None:
                return override
        database = None
        if snapshot.cache_id.kind is CacheKind.REDIS_ENTERPRISE:
            database = next((d for d in snapshot.databases or () if str(d.get("name", "")).lower() == "default"),
                            None)
        return endpoint_from_arm(snapshot.cache_id.kind, snapshot.resource, database)

    def sample(self, snapshot: CacheSnapshot, params: Mapping[str, Any]) -> SampleOutcome:
        try:
            limits = SampleLimits(max_keys=int(params.get("maxKeys", SampleLimits.max_keys)))
            rate = float(params.get("commandsPerSecond", DEFAULT_RATE))
            endpoint = self._endpoint(snapshot)
        except (EndpointError, ValueError) as exc:
            return SampleOutcome(None, str(exc))
        # redis-py and redis-entraid load on the first sample, not at import: only opted-in scans sample, and
        # an event must not pay for them (cold start, issue 13).
        import redis
        from redis.auth.err import RequestTokenErr, TokenRenewalErr

        from .auth import entra_credential_provider
        from .client import connect

        client: redis.Redis | None = None
        try:
            client = connect(endpoint, entra_credential_provider(self._credential), ca_file=self._ca_file,
                             timeout=self._timeout)
            report = sample_key_expiry(client, limits, TokenBucket(rate, max(1.0, min(rate, limits.batch))))
        except (redis.exceptions.RedisError, RequestTokenErr, TokenRenewalErr, OSError) as exc:
            return SampleOutcome(None, f"{type(exc).__name__}: {exc}")
        finally:
            if client is not None:
                client.close()
        return SampleOutcome(report, None)
