"""Client-side pacing of ARM requests: one budget per subscription and principal, fed by ARM's own answers.

ARM meters each subscription per principal and operation type with token buckets (reads 250 refilling 25/s,
writes and deletes 200 refilling 10/s: Microsoft Learn, "Understand how Azure Resource Manager throttles
requests"; emulator/throttling.py) and says what is left in `x-ms-ratelimit-remaining-subscription-{reads,
writes,deletes}` (and `-global-*`) on every answer; a refusal is 429 with `Retry-After`. Left alone, every
reconcile runs flat out until refused, and each refused cache backs off on its own while the others keep
spending the same empty bucket (issue 13: 485 of 512 429s arrived before their Retry-After had passed).

`Budgets` is one process-wide record per (ARM endpoint, principal, subscription), shared by every SDK client
of every `ArmSession` through `PacingPolicy`:

- before a request: wait (at most `max_wait` seconds) until the local model of the bucket holds a token and
  no pause is running; a longer wait raises `SubscriptionPaused`, which the engine turns into a deferral of
  that cache with the wait as its Retry-After (a Functions worker never sleeps for minutes);
- after an answer: the remaining counts lower the model when ARM holds fewer than it computed (never raise
  it, so a crafted count cannot make us burst), and a 429 pauses the whole subscription for this principal until its
  Retry-After has passed: every request of that subscription waits, other subscriptions carry on.

The model starts only once ARM has sent a remaining count for the subscription: with no header there is
nothing to pace by (and nothing is invented). Between answers it refills at ARM's documented rate times
`rate_scale` (`WARDEN_ARM_RATE_SCALE`, 1 in Azure; a benchmark against a time-scaled emulator sets the
emulator's scale). The longest in-process wait is ARM time too: `MAX_WAIT_SECONDS` of Azure's refill (125
reads) is `MAX_WAIT_SECONDS / rate_scale` seconds on a clock whose buckets refill `rate_scale` times as fast.
Unscaled, a bench at scale 0.005 (a read token every 8 s) turned every paced read into a deferral that Azure
would never see (issue 13: 501 of 10,000 caches ran out of the CLI's retry window, and their re-reads cost
1,000 cache GETs); in Azure (scale 1) nothing changes.

Header values come from a hostile boundary. A remaining count must be 1 to 9 digits; a Retry-After must be
delta-seconds (digits, a decimal fraction tolerated as azure-core does) or an HTTP-date; anything else (a
negative, `inf`, `nan`, text) is refused and a 429 carrying it pauses for `FALLBACK_PAUSE_SECONDS`. A
Retry-After above `MAX_RETRY_AFTER_SECONDS` is capped there, and the error says so, so the cache's deferral on
the audit trail names what ARM asked for and what we honour instead of sleeping for hours.
"""

from __future__ import annotations

import email.utils
import math
import re
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from azure.core.exceptions import AzureError
from azure.core.pipeline import PipelineRequest, PipelineResponse
from azure.core.pipeline.policies import HTTPPolicy
from azure.core.utils import CaseInsensitiveDict, case_insensitive_dict
from requests.structures import CaseInsensitiveDict as RequestsHeaders

# ARM's 2024 subscription buckets per principal: (size, refill per second).
LIMITS: Mapping[str, tuple[float, float]] = {"reads": (250.0, 25.0), "writes": (200.0, 10.0),
                                             "deletes": (200.0, 10.0)}
OPERATION_TYPES = {"GET": "reads", "HEAD": "reads", "DELETE": "deletes"}  # everything else is a write
MAX_RETRY_AFTER_SECONDS = 3600.0  # a longer Retry-After is capped (and said so): the default deferral budget
FALLBACK_PAUSE_SECONDS = 10.0  # a 429 whose Retry-After is absent or unreadable
MAX_WAIT_SECONDS = 5.0  # the longest a request waits in-process; longer becomes a deferral of the cache
MAX_BUDGETS = 4096  # idle budgets beyond this are forgotten (they start full again: nothing is lost)
RETRY_AFTER_HEADERS = (("retry-after", 1.0), ("retry-after-ms", 0.001), ("x-ms-retry-after-ms", 0.001))

_DELTA_SECONDS = re.compile(r"^\d{1,12}(?:\.\d{1,9})?$")
_REMAINING = re.compile(r"^\d{1,9}$")
_SUBSCRIPTION = re.compile(r"^/subscriptions/([0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-"
                           r"[0-9a-fA-F]{12})(?:/|$)")


def operation_type(method: str) -> str:
    """ARM's operation type of a request: reads, writes or deletes (a POST counts as a write, as ARM does)."""
    return OPERATION_TYPES.get(method.upper(), "writes")


def subscription_of(url: str) -> str | None:
    """The subscription a request is metered against (lower case), or None for tenant-level paths."""
    match = _SUBSCRIPTION.match(urlsplit(url).path)
    return match.group(1).lower() if match else None


@dataclass(frozen=True)
class RetryAfter:
    """A Retry-After as we honour it: `seconds` (None when the answer had none), what was sent, and why it
    was not taken as sent (`problem`: unreadable, or above the cap)."""

    seconds: float | None
    sent: str | None = None
    problem: str | None = None

    @property
    def unreadable(self) -> bool:
        return self.sent is not None and self.seconds is None

    def note(self) -> str:
        """For an error message: what ARM asked for when it is not what we honour."""
        if self.problem is None:
            return ""
        honoured = "" if self.seconds is None else f"; waiting {self.seconds:g} s"
        return f" (Retry-After {self.sent[:40]!r} {self.problem}{honoured})" if self.sent else ""


def _one_retry_after(raw: str, unit: float) -> RetryAfter:
    text = raw.strip()
    if _DELTA_SECONDS.match(text):
        seconds = float(text) * unit
    elif unit == 1.0 and (parsed := _http_date(text)) is not None:
        seconds = max(0.0, parsed - time.time())
    else:
        return RetryAfter(None, raw, "is not a number of seconds or an HTTP-date: refused")
    if not math.isfinite(seconds):
        return RetryAfter(None, raw, "is not a number of seconds or an HTTP-date: refused")
    if seconds > MAX_RETRY_AFTER_SECONDS:
        return RetryAfter(MAX_RETRY_AFTER_SECONDS, raw, f"is above the {MAX_RETRY_AFTER_SECONDS:g} s cap")
    return RetryAfter(seconds, raw)


def _http_date(text: str) -> float | None:
    try:
        parsed = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if parsed.tzinfo is None:
        return None
    return parsed.timestamp()


def _headers(headers: Mapping[str, str]) -> Mapping[str, str]:
    """Header names are case-insensitive; a transport's own mapping already is."""
    return headers if isinstance(headers, CaseInsensitiveDict | RequestsHeaders) else case_insensitive_dict(headers)


def read_retry_after(headers: Mapping[str, str]) -> RetryAfter:
    """The answer's Retry-After (or `retry-after-ms` / `x-ms-retry-after-ms`, which azure-core also reads),
    validated and capped."""
    headers = _headers(headers)
    for name, unit in RETRY_AFTER_HEADERS:
        raw = headers.get(name)
        if raw is not None and raw != "":
            return _one_retry_after(str(raw), unit)
    return RetryAfter(None)


def read_remaining(headers: Mapping[str, str], operation: str) -> int | None:
    """The fewest requests ARM says are left for `operation` (per principal and subscription-global), or
    None when neither count is there or readable."""
    headers = _headers(headers)
    found = []
    for name in (f"x-ms-ratelimit-remaining-subscription-{operation}",
                 f"x-ms-ratelimit-remaining-subscription-global-{operation}"):
        raw = headers.get(name)
        if raw is not None and _REMAINING.match(str(raw).strip()):
            found.append(int(str(raw).strip()))
    return min(found) if found else None


class SubscriptionPaused(AzureError):
    """A request not sent: its subscription is paused after a 429, or its budget would need longer than the
    caller may wait. `retry_after` is how long until it could go."""

    def __init__(self, subscription_id: str, retry_after: float, reason: str) -> None:
        super().__init__(f"requests for subscription {subscription_id} are paused for {retry_after:.1f} s: {reason}")
        self.subscription_id = subscription_id
        self.retry_after = retry_after
        self.reason = reason


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
        # A microsecond more than the exact time, so rounding never leaves the token a hair short.
        return 0.0 if self.tokens >= 1.0 else (1.0 - self.tokens) / self.refill_per_second + 1e-6


@dataclass
class _Budget:
    """One principal's view of one subscription: a bucket per operation type once ARM has counted it, and
    the end of the running pause."""

    buckets: dict[str, _Bucket] = field(default_factory=dict)
    paused_until: float = 0.0
    pause_reason: str = ""

    def idle(self, now: float) -> bool:
        return self.paused_until <= now and all(b.tokens >= b.capacity for b in self.buckets.values())


@dataclass(frozen=True)
class PacingStats:
    waits: int = 0  # requests that waited before being sent
    waited_seconds: float = 0.0
    pauses: int = 0  # 429s that paused a subscription
    refused: int = 0  # requests not sent (SubscriptionPaused)


class Budgets:
    """Every (endpoint, principal, subscription) budget of this process. Thread-safe."""

    def __init__(self, *, rate_scale: float = 1.0, max_wait: float | None = None,
                 clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep) -> None:
        """`max_wait` defaults to `MAX_WAIT_SECONDS` of ARM's time, i.e. divided by `rate_scale`."""
        if not (math.isfinite(rate_scale) and rate_scale > 0):
            raise ValueError("Budgets.rate_scale must be a positive number")
        self.rate_scale = rate_scale
        self.max_wait = MAX_WAIT_SECONDS / rate_scale if max_wait is None else max_wait
        self.clock = clock
        self.sleep = sleep
        self._lock = threading.Lock()
        self._budgets: dict[tuple[str, str, str], _Budget] = {}
        self._stats = PacingStats()

    @property
    def stats(self) -> PacingStats:
        with self._lock:
            return self._stats

    def _budget(self, key: tuple[str, str, str], now: float) -> _Budget:
        budget = self._budgets.get(key)
        if budget is None:
            if len(self._budgets) >= MAX_BUDGETS:
                self._budgets = {k: b for k, b in self._budgets.items() if not b.idle(now)}
            budget = self._budgets[key] = _Budget()
        return budget

    def paused_for(self, key: tuple[str, str, str]) -> float:
        """Seconds left of the pause on `key` (0 when none)."""
        with self._lock:
            budget = self._budgets.get(key)
            return max(0.0, budget.paused_until - self.clock()) if budget else 0.0

    def acquire(self, key: tuple[str, str, str], operation: str) -> None:
        """Take one `operation` token of `key`, waiting up to `max_wait` for a pause to end or a token to
        refill; raise `SubscriptionPaused` (nothing taken) when the wait would be longer."""
        waited = 0.0
        while True:
            with self._lock:
                now = self.clock()
                budget = self._budget(key, now)
                bucket = budget.buckets.get(operation)
                if bucket is not None:
                    bucket.refill(now)
                pause = budget.paused_until - now
                token_wait = bucket.wait() if bucket is not None else 0.0
                wait = max(pause, token_wait)
                if wait <= 0.0:
                    if bucket is not None:
                        bucket.tokens -= 1.0
                    if waited:
                        self._stats = _add(self._stats, waits=1, waited_seconds=waited)
                    return
                if waited + wait > self.max_wait:
                    self._stats = _add(self._stats, refused=1)
                    reason = budget.pause_reason if pause >= token_wait else (
                        f"ARM's {operation} budget for this principal is spent; a token in {token_wait:.1f} s")
                    raise SubscriptionPaused(key[2], wait, reason)
            self.sleep(wait)
            waited += wait

    def observe(self, key: tuple[str, str, str], operation: str, status: int, headers: Mapping[str, str],
                sent_at: float | None = None) -> None:
        """Feed one answer back: the remaining count lowers (or starts) the model; a 429 pauses `key`.

        ARM's count is whole tokens left when it took the request, somewhere between `sent_at` and now; the
        most ARM can hold now is that count + 1 + what refilled since `sent_at`. The model is lowered to that
        when it is above it (another instance of the principal spent tokens), and otherwise kept: lowering it
        to the bare count would throw away the fraction and the refill in flight on every answer and pace a
        sequential caller at one request per (refill interval + round trip) instead of the refill rate."""
        remaining = read_remaining(headers, operation)
        with self._lock:
            now = self.clock()
            budget = self._budget(key, now)
            if remaining is not None:
                bucket = budget.buckets.get(operation)
                if bucket is None:
                    capacity, refill = LIMITS[operation]
                    bucket = budget.buckets[operation] = _Bucket(capacity, refill * self.rate_scale,
                                                                 min(capacity, float(remaining)), now)
                else:
                    bucket.refill(now)
                    in_flight = max(0.0, now - (now if sent_at is None else sent_at)) * bucket.refill_per_second
                    bucket.tokens = min(bucket.tokens, remaining + 1.0 + in_flight)
            if status == 429:
                retry = read_retry_after(headers)
                seconds = FALLBACK_PAUSE_SECONDS if retry.seconds is None else retry.seconds
                until = now + seconds
                if until > budget.paused_until:
                    budget.paused_until = until
                    budget.pause_reason = f"ARM refused a request with 429, Retry-After {seconds:g} s{retry.note()}"
                bucket = budget.buckets.get(operation)
                if bucket is not None:
                    bucket.tokens = min(bucket.tokens, 0.0)
                self._stats = _add(self._stats, pauses=1)


def _add(stats: PacingStats, **more: float) -> PacingStats:
    return PacingStats(**{k: getattr(stats, k) + more.get(k, 0) for k in PacingStats.__dataclass_fields__})


_shared_lock = threading.Lock()
_shared: Budgets | None = None


def shared_budgets(rate_scale: float = 1.0) -> Budgets:
    """The process-wide budgets every `ArmSession` uses unless given its own (tests give a fake clock)."""
    global _shared
    with _shared_lock:
        if _shared is None or _shared.rate_scale != rate_scale:
            _shared = Budgets(rate_scale=rate_scale)
        return _shared


class PacingPolicy(HTTPPolicy):  # type: ignore[type-arg]
    """Paces each attempt (it sits after the retry policy, so retries are paced too) by the budget of its
    subscription and principal; requests outside a subscription pass untouched."""

    def __init__(self, budgets: Budgets, endpoint: str, principal: Callable[[], str]) -> None:
        super().__init__()
        self.budgets = budgets
        self.endpoint = endpoint.lower()
        self.principal = principal

    def send(self, request: PipelineRequest[Any]) -> PipelineResponse[Any, Any]:
        http_request = request.http_request
        subscription = subscription_of(http_request.url)
        if subscription is None:
            return self.next.send(request)
        key = (self.endpoint, self.principal(), subscription)
        operation = operation_type(http_request.method)
        self.budgets.acquire(key, operation)
        sent_at = self.budgets.clock()
        response = self.next.send(request)
        self.budgets.observe(key, operation, response.http_response.status_code, response.http_response.headers,
                             sent_at)
        return response
