"""ARM's subscription throttling: token buckets per (subscription, principal, operation type).

Evidence (cited in emulator/README.md, "Throttling"):
- Microsoft Learn "Understand how Azure Resource Manager throttles requests"
  (azure-resource-manager/management/request-limits-and-throttling, 2024 regional token-bucket model):
  subscription reads bucket 250 refilling 25/s, writes 200 refilling 10/s, deletes 200 refilling 10/s, applied
  per subscription, per service principal and per operation type; a global subscription limit of 15 times
  the per-principal one is shared by every principal. Each answer carries
  `x-ms-ratelimit-remaining-subscription-{reads,writes,deletes}` (and `-global-*`); a refused request is
  429 with `Retry-After` (seconds).
- Recorded answers after the 2024 migration show the first read of a full bucket answering
  `x-ms-ratelimit-remaining-subscription-reads: 249` with `x-ms-ratelimit-remaining-subscription-global-reads:
  3749` (= 15 x 250 - 1): the remaining count is after this request is taken.
- The refusal: code `SubscriptionRequestsThrottled`, "Number of 'read' requests for subscription '{sub}'
  actor '{oid}' exceeded. Please try again after '{n}' seconds." (an ARM answer quoted verbatim in public code;
  clients must key on status, code and Retry-After only).

`time_scale` makes the buckets refill that many times faster than Azure's (a benchmark of a 10,000-cache fleet
need not take half an hour); `Retry-After` is then the real seconds until a token, so a client honouring it is
paced exactly as it would be by ARM. `retry_after_floor` makes every refusal ask for at least that many
seconds, as ARM does under load (Retry-After of 10 s and more), to prove a client pauses the subscription.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

GLOBAL_FACTOR = 15  # the subscription-wide limit shared by all principals, per operation type
OPERATION_TYPES = {"GET": "reads", "HEAD": "reads", "DELETE": "deletes"}  # everything else is a write
SINGULAR = {"reads": "read", "writes": "write", "deletes": "delete"}


def operation_type(method: str) -> str:
    """ARM's operation type of a request: reads, writes or deletes. A POST (listKeys, a Resource Graph
    query is not subscription-scoped) counts as a write, as ARM counts it."""
    return OPERATION_TYPES.get(method.upper(), "writes")


@dataclass
class _Bucket:
    capacity: float
    refill_per_second: float
    tokens: float
    at: float

    def refill(self, now: float) -> None:
        self.tokens = min(self.capacity, self.tokens + max(0.0, now - self.at) * self.refill_per_second)
        self.at = now

    def wait(self) -> float:
        """Seconds until one whole token is there (0 when there is one now)."""
        return 0.0 if self.tokens >= 1.0 else (1.0 - self.tokens) / self.refill_per_second


@dataclass(frozen=True)
class Decision:
    """One request against the buckets: allowed or not, what remains, and how long to wait if refused."""

    allowed: bool
    operation: str  # reads / writes / deletes
    remaining: int
    global_remaining: int
    retry_after: int  # whole seconds; 0 when allowed

    def headers(self) -> dict[str, str]:
        out = {f"x-ms-ratelimit-remaining-subscription-{self.operation}": str(self.remaining),
               f"x-ms-ratelimit-remaining-subscription-global-{self.operation}": str(self.global_remaining)}
        if not self.allowed:
            out["Retry-After"] = str(self.retry_after)
        return out

    def message(self, subscription_id: str, principal: str) -> str:
        return (f"Number of '{SINGULAR[self.operation]}' requests for subscription '{subscription_id}' actor "
                f"'{principal}' exceeded. Please try again after '{self.retry_after}' seconds.")


@dataclass
class RateLimits:
    """ARM's subscription token buckets per principal; headers always, 429s only with `enforce`.

    `reads`, `writes`, `deletes` are (bucket size, refill per second) in Azure's time; `time_scale` speeds the
    refill up for benchmarks. `throttled` counts refusals per (subscription, principal)."""

    enforce: bool = False
    reads: tuple[float, float] = (250.0, 25.0)
    writes: tuple[float, float] = (200.0, 10.0)
    deletes: tuple[float, float] = (200.0, 10.0)
    time_scale: float = 1.0
    retry_after_floor: int = 0
    clock: Callable[[], float] = time.monotonic
    throttled: dict[tuple[str, str], int] = field(default_factory=dict)
    _buckets: dict[tuple[str, str, str], _Bucket] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        if self.time_scale <= 0:
            raise ValueError("RateLimits.time_scale must be positive")

    def limits(self, operation: str) -> tuple[float, float]:
        """(bucket size, refill per real second) of an operation type."""
        capacity, refill = {"reads": self.reads, "writes": self.writes, "deletes": self.deletes}[operation]
        return capacity, refill * self.time_scale

    def _bucket(self, key: tuple[str, str, str], capacity: float, refill: float, now: float) -> _Bucket:
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = self._buckets[key] = _Bucket(capacity, refill, capacity, now)
        bucket.refill(now)
        return bucket

    def decide(self, subscription_id: str, principal: str, method: str) -> Decision:
        """Take one token from the principal's bucket and the subscription's global one, or refuse."""
        operation = operation_type(method)
        capacity, refill = self.limits(operation)
        sub, who = subscription_id.lower(), principal.lower()
        with self._lock:
            now = self.clock()
            own = self._bucket((sub, who, operation), capacity, refill, now)
            shared = self._bucket((sub, "*", operation), capacity * GLOBAL_FACTOR, refill * GLOBAL_FACTOR, now)
            if own.tokens >= 1.0 and shared.tokens >= 1.0:
                own.tokens -= 1.0
                shared.tokens -= 1.0
                return Decision(True, operation, int(own.tokens), int(shared.tokens), 0)
            wait = max(own.wait(), shared.wait())
            if self.enforce:
                self.throttled[(sub, who)] = self.throttled.get((sub, who), 0) + 1
            return Decision(False, operation, 0, int(shared.tokens),
                            max(1, self.retry_after_floor, math.ceil(wait)))

    def take(self, subscription_id: str, principal: str, write: bool) -> tuple[bool, int, float]:
        """The older form: (allowed, remaining, seconds until a token)."""
        found = self.decide(subscription_id, principal, "PUT" if write else "GET")
        return found.allowed, found.remaining, float(found.retry_after)

    def throttled_total(self) -> int:
        with self._lock:
            return sum(self.throttled.values())

    @classmethod
    def from_mapping(cls, raw: Mapping[str, object]) -> RateLimits:
        """From a benchmark's or the CLI's JSON: {"enforce", "timeScale", "retryAfterFloor"}."""
        return cls(enforce=bool(raw.get("enforce", True)), time_scale=float(raw.get("timeScale", 1.0)),  # type: ignore[arg-type]
                   retry_after_floor=int(raw.get("retryAfterFloor", 0)))  # type: ignore[call-overload]
