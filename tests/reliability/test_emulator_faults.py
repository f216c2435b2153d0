"""The emulator's fault injection (emulator/faults.py): ARM's answers for each preset, seeded chaos that
is reproducible whatever the request order, rate-limit headers, and fleet validation of fault entries."""

from __future__ import annotations

import random

import pytest
import requests

from emulator.faults import ChaosSpec, FaultInjector, RateLimits
from emulator.fleet import FleetError, load_fleet
from emulator.principals import JANE
from emulator.store import Store
from emulator.testing import RawArm, cache_id, running_emulator, sample_cache

CACHE = cache_id("f-cache")


@pytest.mark.parametrize(("preset", "method", "status", "code"), [
    ("throttled", "GET", 429, "SubscriptionRequestsThrottled"),
    ("internalError", "GET", 500, "InternalServerError"),
    ("unavailable", "GET", 503, "ServiceUnavailable"),
    ("busy", "PATCH", 409, "Conflict"),
    ("scopeLocked", "PATCH", 409, "ScopeLocked"),
    ("disallowedByPolicy", "PATCH", 403, "RequestDisallowedByPolicy"),
    ("linkedAuthorizationFailed", "PATCH", 403, "LinkedAuthorizationFailed"),
])
def test_each_preset_answers_as_arm_does_and_changes_nothing(preset: str, method: str, status: int,
                                                             code: str) -> None:
    fleet = [sample_cache("f-cache", knobs={"faults": [{"preset": preset, "method": method, "retryAfter": 9}]})]
    with running_emulator(fleet) as server:
        arm = RawArm(server)
        resp = arm.request(method, CACHE, body={"properties": {"enableNonSslPort": True}} if method != "GET" else None)
        assert (resp.status_code, resp.json()["error"]["code"]) == (status, code)
        if preset in ("throttled", "unavailable", "busy"):
            assert resp.headers["Retry-After"] == "9"
        if preset == "throttled":
            assert resp.headers["x-ms-ratelimit-remaining-subscription-reads"] == "0"
        assert server.cache(CACHE)["properties"]["enableNonSslPort"] is False  # refused before any change
        assert server.requests()[-1]["fault"] == preset
        assert arm.request(method, CACHE, body={"properties": {}} if method != "GET" else None).status_code < 300


def test_reset_closes_the_connection_without_an_answer() -> None:
    fleet = [sample_cache("f-cache", knobs={"faults": [{"preset": "reset", "method": "GET"}]})]
    with running_emulator(fleet) as server:
        with pytest.raises(requests.ConnectionError):
            RawArm(server).request("GET", CACHE)
        assert server.requests()[-1]["status"] == 0 and server.requests()[-1]["fault"] == "reset"
        assert RawArm(server).request("GET", CACHE).status_code == 200


def test_chaos_is_reproducible_from_its_seed_whatever_the_request_order() -> None:
    paths = [f"/subscriptions/s/resourceGroups/rg/providers/Microsoft.Cache/Redis/c{i}" for i in range(30)]
    calls = [(m, p) for p in paths for m in ("GET", "PATCH") for _ in range(5)]

    def run(order_seed: int, chaos_seed: int) -> set[tuple[str, str, int, str]]:
        injector = FaultInjector(Store(), ChaosSpec(rate=0.3, seed=chaos_seed))
        shuffled = list(calls)
        random.Random(order_seed).shuffle(shuffled)
        seen: dict[tuple[str, str], int] = {}
        out = set()
        for method, path in shuffled:
            nth = seen.get((method, path), 0)
            seen[(method, path)] = nth + 1
            found, _ = injector.before(method, path, {"appid": "x"})
            if found is not None:
                out.add((method, path, nth, found.label))
        return out

    first = run(1, 42)
    assert first == run(2, 42)  # same seed, different interleaving: the same requests fail the same way
    assert first != run(1, 43)
    assert 0.15 < len(first) / len(calls) < 0.45


def test_chaos_can_spare_other_callers() -> None:
    with running_emulator([sample_cache("f-cache")], chaos={"rate": 1.0, "seed": 1,
                                                            "onlyAppids": ["not-jane"]}) as server:
        assert RawArm(server, JANE).request("GET", CACHE).status_code == 200


def test_rate_limit_headers_count_down_and_enforce_when_asked() -> None:
    now = [0.0]
    limits = RateLimits(enforce=True, reads=(3.0, 1.0), clock=lambda: now[0])
    injector = FaultInjector(Store(), rate_limits=limits)
    remaining = []
    for _ in range(4):
        found, headers = injector.before("GET", CACHE, {"oid": "o"})
        remaining.append((headers["x-ms-ratelimit-remaining-subscription-reads"], found and found.status))
    assert remaining == [("2", None), ("1", None), ("0", None), ("0", 429)]
    now[0] += 1.0  # one token refilled
    assert injector.before("GET", CACHE, {"oid": "o"})[0] is None


def test_fault_entries_need_a_status_or_a_preset_not_both() -> None:
    both = sample_cache("f-cache", knobs={"faults": [{"status": 500, "preset": "reset"}]})
    neither = sample_cache("f-cache", knobs={"faults": [{"method": "GET"}]})
    for fleet in ([both], [neither]):
        with pytest.raises(FleetError):
            load_fleet(fleet)
    assert load_fleet([sample_cache("f-cache", knobs={"deleteAfterRequests": 2, "lroFailures": 1})])
