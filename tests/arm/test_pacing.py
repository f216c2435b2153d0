"""Issue 13, pacing: one budget per subscription and principal, fed by ARM's remaining-count headers and
Retry-After, shared by every client of the process. A 429 pauses its subscription (every request of it
waits, or is refused for the engine to defer when the wait is too long) and never another subscription;
hostile header values are refused or capped.

The SDK tests drive the real `azure-mgmt-redis` client over HTTPS against the emulator's token buckets
(emulator/throttling.py, from Microsoft's documented model); the emulator and the budgets share one fake
clock, so waiting is a recorded advance of that clock, never a sleep. That the buckets behave like Azure's is
only as good as the emulator's evidence (emulator/README.md, "Throttling")."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from azure.mgmt.redis import RedisManagementClient

from emulator.principals import SUBSCRIPTION_ID
from emulator.server import EmulatorServer
from emulator.testing import EmulatorCredential, running_emulator, sample_cache
from emulator.throttling import RateLimits
from remediators.arm.errors import ArmError, parse_retry_after
from remediators.arm.pacing import (
    FALLBACK_PAUSE_SECONDS,
    MAX_RETRY_AFTER_SECONDS,
    Budgets,
    SubscriptionPaused,
    read_remaining,
    read_retry_after,
    subscription_of,
)
from remediators.arm.pipeline import ArmSession, raw_json

OTHER_SUB = "0a1b2c3d-0000-4000-8000-00000000000b"
KEY_A = ("https://arm", "warden", SUBSCRIPTION_ID)
KEY_B = ("https://arm", "warden", OTHER_SUB)


@dataclass
class FakeTime:
    """One clock for the emulator's buckets and our budgets; `sleep` advances it and is recorded."""

    now: float = 1000.0
    slept: list[float] = field(default_factory=list)

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(round(seconds, 3))
        self.now += seconds


def _budgets(clock: FakeTime, **kwargs: Any) -> Budgets:
    return Budgets(clock=clock, sleep=clock.sleep, **kwargs)


# ------------------------------------------------------------------------------------- the budget alone


def test_without_a_remaining_count_nothing_is_paced() -> None:
    clock = FakeTime()
    budgets = _budgets(clock)
    for _ in range(1000):
        budgets.acquire(KEY_A, "reads")
    assert clock.slept == []  # nothing invented: no header, no model


def test_the_remaining_count_drives_the_budget_and_refill_follows_arms_rate() -> None:
    clock = FakeTime()
    budgets = _budgets(clock)
    budgets.observe(KEY_A, "reads", 200, {"x-ms-ratelimit-remaining-subscription-reads": "2"})
    budgets.acquire(KEY_A, "reads")
    budgets.acquire(KEY_A, "reads")
    assert clock.slept == []
    budgets.acquire(KEY_A, "reads")  # the third waits for one token at 25/s
    assert clock.slept == [0.04]


def test_a_lower_count_lowers_the_model_and_a_higher_one_never_raises_it() -> None:
    clock = FakeTime()
    budgets = _budgets(clock)
    budgets.observe(KEY_A, "reads", 200, {"x-ms-ratelimit-remaining-subscription-reads": "200"})
    # Another instance of the same principal spent the bucket: ARM now says 0 (at most 1 is left).
    sent = clock.now
    budgets.observe(KEY_A, "reads", 200, {"x-ms-ratelimit-remaining-subscription-reads": "0"}, sent)
    budgets.acquire(KEY_A, "reads")
    assert clock.slept == []
    budgets.acquire(KEY_A, "reads")
    assert clock.slept == [0.04]
    # A crafted count cannot make us burst.
    budgets.observe(KEY_A, "reads", 200, {"x-ms-ratelimit-remaining-subscription-reads": "999999999"}, clock.now)
    budgets.acquire(KEY_A, "reads")
    assert clock.slept == [0.04, 0.04]
    # Writes have their own bucket; the other subscription is untouched.
    budgets.acquire(KEY_A, "writes")
    budgets.acquire(KEY_B, "reads")
    assert len(clock.slept) == 2


def test_the_global_count_limits_too() -> None:
    headers = {"x-ms-ratelimit-remaining-subscription-reads": "200",
               "x-ms-ratelimit-remaining-subscription-global-reads": "3"}
    assert read_remaining(headers, "reads") == 3


def test_a_429_pauses_its_subscription_and_not_another() -> None:
    clock = FakeTime()
    budgets = _budgets(clock, max_wait=30.0)
    budgets.observe(KEY_A, "reads", 429, {"Retry-After": "12"})
    budgets.acquire(KEY_B, "reads")  # another subscription carries on
    assert clock.slept == []
    budgets.acquire(KEY_A, "writes")  # any request of the paused one waits the pause out
    assert clock.slept == [12.0]
    assert budgets.paused_for(KEY_A) == 0.0


def test_the_longest_wait_is_arms_time_so_a_time_scaled_clock_decides_as_azure_does() -> None:
    """At rate_scale 0.01 every ARM duration is 100 times longer on the clock; the in-process wait must be
    too, or a bench turns waits Azure would sit out (a read token every 4 s) into deferrals (issue 13)."""
    clock, scaled_clock = FakeTime(), FakeTime()
    azure = _budgets(clock)
    scaled = _budgets(scaled_clock, rate_scale=0.01)
    assert (azure.max_wait, scaled.max_wait) == (5.0, 500.0)
    assert _budgets(clock, rate_scale=0.01, max_wait=5.0).max_wait == 5.0  # an explicit wait is kept as given
    # 4 s of ARM's time: both wait it out in-process.
    azure.observe(KEY_A, "reads", 429, {"Retry-After": "4"})
    scaled.observe(KEY_B, "reads", 429, {"Retry-After": "400"})
    azure.acquire(KEY_A, "reads")
    scaled.acquire(KEY_B, "reads")
    assert (clock.slept, scaled_clock.slept) == ([4.0], [400.0])
    # 8 s of ARM's time: both refuse without sending, and the cache is deferred.
    azure.observe(KEY_A, "reads", 429, {"Retry-After": "8"})
    scaled.observe(KEY_B, "reads", 429, {"Retry-After": "800"})
    for budgets, key in ((azure, KEY_A), (scaled, KEY_B)):
        with pytest.raises(SubscriptionPaused):
            budgets.acquire(key, "reads")
    assert (clock.slept, scaled_clock.slept) == ([4.0], [400.0])


def test_a_pause_longer_than_the_wait_allowed_refuses_without_sending() -> None:
    clock = FakeTime()
    budgets = _budgets(clock, max_wait=5.0)
    budgets.observe(KEY_A, "reads", 429, {"retry-after": "12"})
    with pytest.raises(SubscriptionPaused) as info:
        budgets.acquire(KEY_A, "reads")
    assert info.value.retry_after == 12.0 and "429" in info.value.reason
    assert clock.slept == [] and budgets.stats.refused == 1
    clock.now += 12.0
    budgets.acquire(KEY_A, "reads")


@pytest.mark.parametrize(("sent", "seconds", "problem"), [
    ("12", 12.0, None),
    (" 7 ", 7.0, None),
    ("1.5", 1.5, None),
    ("0", 0.0, None),
    ("-5", None, "refused"),
    ("inf", None, "refused"),
    ("nan", None, "refused"),
    ("1e9", None, "refused"),
    ("soon", None, "refused"),
    ("9" * 40, None, "refused"),
    ("31536000", MAX_RETRY_AFTER_SECONDS, "cap"),
    ("Fri, 31 Dec 2100 23:59:59 GMT", MAX_RETRY_AFTER_SECONDS, "cap"),
    ("Wed, 21 Oct 2015 07:28:00 GMT", 0.0, None),
])
def test_hostile_retry_after_values_are_refused_or_capped(sent: str, seconds: float | None,
                                                          problem: str | None) -> None:
    found = read_retry_after({"retry-after": sent})
    assert found.seconds == seconds
    assert (found.problem is None) if problem is None else (problem in (found.problem or ""))
    assert parse_retry_after(sent) == seconds


def test_retry_after_ms_headers_are_read_as_milliseconds_and_validated_too() -> None:
    assert read_retry_after({"retry-after-ms": "1500"}).seconds == 1.5
    assert read_retry_after({"x-ms-retry-after-ms": "-1"}).seconds is None
    assert read_retry_after({"x-ms-retry-after-ms": "99999999999"}).seconds == MAX_RETRY_AFTER_SECONDS


@pytest.mark.parametrize("sent", ["-1", "abc", "1e3", "12.5", "", "1234567890", "0x10"])
def test_unreadable_remaining_counts_are_ignored(sent: str) -> None:
    assert read_remaining({"x-ms-ratelimit-remaining-subscription-reads": sent}, "reads") is None


def test_a_429_with_an_unreadable_retry_after_pauses_for_the_fallback() -> None:
    clock = FakeTime()
    budgets = _budgets(clock, max_wait=60.0)
    budgets.observe(KEY_A, "reads", 429, {"Retry-After": "inf"})
    budgets.acquire(KEY_A, "reads")
    assert clock.slept == [FALLBACK_PAUSE_SECONDS]


def test_only_subscription_paths_are_metered() -> None:
    assert subscription_of(f"https://x/subscriptions/{SUBSCRIPTION_ID.upper()}/resourceGroups/r") == SUBSCRIPTION_ID
    assert subscription_of("https://x/providers/Microsoft.ResourceGraph/resources") is None
    assert subscription_of("https://x/subscriptions/not-a-guid/resourceGroups/r") is None


# ------------------------------------------------------------------------- the real SDK over HTTPS


def _fleet() -> list[dict[str, Any]]:
    return [sample_cache("a-1"), sample_cache("a-2"), sample_cache("b-1", subscription_id=OTHER_SUB)]


@pytest.fixture
def throttled_arm() -> Iterator[tuple[EmulatorServer, FakeTime]]:
    """ARM with a 3-token read bucket refilling 1/s in its clock, asking Retry-After >= 12 s on a 429."""
    clock = FakeTime()
    limits = RateLimits(enforce=True, reads=(3.0, 1.0), retry_after_floor=12, clock=clock)
    with running_emulator(_fleet(), rate_limits=limits) as server:
        yield server, clock


def _session(server: EmulatorServer, budgets: Budgets) -> ArmSession:
    return ArmSession(server.arm_endpoint, EmulatorCredential(server), timeout=10, budgets=budgets)


def _get(session: ArmSession, subscription: str, name: str) -> Any:
    client = session.client(RedisManagementClient, subscription)
    return session.call(lambda: client.redis.get("rg-payments", name, cls=raw_json, **session.timeouts))


def _gets(server: EmulatorServer, name: str) -> list[int]:
    return [r["status"] for r in server.requests()
            if r["method"] == "GET" and r["path"].lower().endswith(f"/redis/{name}")]


def _throttle(session: ArmSession) -> ArmError:
    """Our model refills at ARM's documented 25/s; this emulator refills at 1/s, so the fourth read of
    `a-1` is refused with a 429: the refusal."""
    for _ in range(3):
        _get(session, SUBSCRIPTION_ID, "a-1")
    with pytest.raises(ArmError) as refused:
        _get(session, SUBSCRIPTION_ID, "a-1")
    return refused.value


def test_a_429_on_one_cache_pauses_its_subscriptions_other_requests_not_another_subscriptions(
        throttled_arm: tuple[EmulatorServer, FakeTime]) -> None:
    server, clock = throttled_arm
    budgets = _budgets(clock, max_wait=5.0)
    session = _session(server, budgets)
    refused = _throttle(session)
    assert (refused.kind, refused.status, refused.retry_after) == ("throttled", 429, 12.0)
    assert _gets(server, "a-1") == [200, 200, 200, 429]  # not retried: 12 s is above the SDK retry cap
    # Another cache of the same subscription is not sent at all while the pause runs: the engine defers it.
    with pytest.raises(ArmError) as paused:
        _get(session, SUBSCRIPTION_ID, "a-2")
    assert (paused.value.kind, paused.value.code) == ("throttled", "SubscriptionPaused")
    assert paused.value.retry_after is not None and 11.9 < paused.value.retry_after <= 12.0
    assert _gets(server, "a-2") == []
    # Another subscription carries on.
    assert _get(session, OTHER_SUB, "b-1")["name"] == "b-1"
    assert _gets(server, "b-1") == [200]
    # Once the Retry-After has passed, the subscription's work resumes, and its next read is accepted.
    clock.now += 12.0
    assert _get(session, SUBSCRIPTION_ID, "a-2")["name"] == "a-2"
    assert _gets(server, "a-2") == [200]


def test_a_paused_subscriptions_requests_wait_the_pause_out_when_allowed_to(
        throttled_arm: tuple[EmulatorServer, FakeTime]) -> None:
    server, clock = throttled_arm
    budgets = _budgets(clock, max_wait=30.0)
    session = _session(server, budgets)
    assert _throttle(session).status == 429
    assert _get(session, SUBSCRIPTION_ID, "a-2")["name"] == "a-2"
    assert clock.slept == [0.04, 12.0]  # the fourth read waited for a token; a-2 waited the Retry-After out
    assert _gets(server, "a-1")[-1] == 429
    assert _gets(server, "a-2") == [200]


def test_every_client_of_every_session_shares_the_budget(throttled_arm: tuple[EmulatorServer, FakeTime]) -> None:
    server, clock = throttled_arm
    budgets = _budgets(clock, max_wait=5.0)
    first, second = _session(server, budgets), _session(server, budgets)
    for _ in range(3):
        _get(first, SUBSCRIPTION_ID, "a-1")
    with pytest.raises(ArmError):
        _get(first, SUBSCRIPTION_ID, "a-1")
    with pytest.raises(ArmError) as paused:
        _get(second, SUBSCRIPTION_ID, "a-2")  # another session (another reconcile) of the same principal
    assert paused.value.code == "SubscriptionPaused" and _gets(server, "a-2") == []


def test_pacing_keeps_a_scan_under_arms_refill_without_a_429() -> None:
    """With ARM's own rates in both the emulator and the model, reads beyond the bucket wait for tokens
    instead of being refused."""
    clock = FakeTime()
    limits = RateLimits(enforce=True, reads=(3.0, 25.0), retry_after_floor=12, clock=clock)
    with running_emulator(_fleet(), rate_limits=limits) as server:
        session = _session(server, _budgets(clock))
        for _ in range(10):
            _get(session, SUBSCRIPTION_ID, "a-1")
        assert 429 not in _gets(server, "a-1") and len(_gets(server, "a-1")) == 10
        assert clock.slept and all(s <= 0.04 for s in clock.slept)


# ------------------------------------------------------------------------- a hostile ARM's headers


def _hostile(headers: dict[str, str], *, throttle: bool) -> list[dict[str, Any]]:
    faults = [{"preset": "throttled", "method": "GET", "resource": "cache", "times": 5}] if throttle else []
    return [sample_cache("h-1", knobs={"hostile": {"rateLimitHeaders": headers}, "faults": faults})]


@pytest.mark.parametrize(("sent", "retry_after", "note"), [
    ("inf", None, "refused"),
    ("-5", None, "refused"),
    ("31536000", MAX_RETRY_AFTER_SECONDS, "above the 3600 s cap"),
])
def test_a_hostile_retry_after_neither_hangs_nor_crashes_nor_sleeps_for_hours(sent: str, retry_after: float | None,
                                                                             note: str) -> None:
    clock = FakeTime()
    with running_emulator(_hostile({"Retry-After": sent}, throttle=True)) as server:
        budgets = _budgets(clock, max_wait=5.0)
        session = _session(server, budgets)
        with pytest.raises(ArmError) as info:
            _get(session, SUBSCRIPTION_ID, "h-1")
        assert info.value.kind == "throttled" and info.value.retry_after == retry_after
        assert note in info.value.message  # what ARM asked for, on the deferral's audit record
        assert _gets(server, "h-1") == [429]  # azure-core would have slept on it; we do not retry it
        expected = FALLBACK_PAUSE_SECONDS if retry_after is None else retry_after
        assert abs(budgets.paused_for((server.arm_endpoint.lower(), session.principal(), SUBSCRIPTION_ID))
                   - expected) < 0.01
        assert clock.slept == []


@pytest.mark.parametrize("sent", ["-1", "abc", "1e3"])
def test_a_hostile_remaining_count_is_ignored(sent: str) -> None:
    clock = FakeTime()
    with running_emulator(_hostile({"x-ms-ratelimit-remaining-subscription-reads": sent}, throttle=False)) as server:
        session = _session(server, _budgets(clock))
        for _ in range(5):
            _get(session, SUBSCRIPTION_ID, "h-1")
        assert clock.slept == [] and _gets(server, "h-1") == [200] * 5
