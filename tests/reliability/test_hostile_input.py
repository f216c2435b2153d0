"""Issue 5 hostile input: fuzzed HTTP requests through the dev host running the real function_app, and
forged or look-alike events through the queue. Never a 5xx or a traceback to the caller; a clear 4xx; out
of the allowlist -> 403 and a log line; anonymous -> 401; a forged event makes no ARM call."""

from __future__ import annotations

import base64
import json
import logging
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from emulator.principals import WARDEN_CLIENT_ID
from emulator.testing import cache_id, sample_cache
from remediators.events import parse_message
from remediators.models import CacheChange

from .rig import OFFICE, SUB, HostStack, host_stack

OTHER_SUB = "0b7c3d2e-1a2b-4c3d-8e4f-5a6b7c8d9e0f"
CACHE = cache_id("fuzz-cache")
# Look-alikes: fullwidth and Cyrillic letters, a Unicode slash and dot, encoded slashes and dots.
LOOKALIKES = ["Ｍicrosoft.Cache", "Microsoft.Сache", "Microsoft．Cache", "redis∕x", "%2F", "%2f", "%2e%2e", "..",
              "\u200b", "ｓubscriptions", "／"]


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HostStack]:
    with host_stack(tmp_path_factory.mktemp("hostile"), [sample_cache("fuzz-cache", firewall_rules=[OFFICE])]) as s:
        yield s


def _post(stack: HostStack, body: bytes, *, key: bool = True) -> requests.Response:
    headers = {"Content-Type": "application/json", **({"x-functions-key": stack.host.function_key} if key else {})}
    return requests.post(f"{stack.host.http_base_url}/api/scans", data=body, headers=headers, timeout=30)


def _assert_clear_refusal(resp: requests.Response, allowed: set[int]) -> None:
    assert resp.status_code in allowed, (resp.status_code, resp.text[:300])
    assert "Traceback" not in resp.text and 'File "' not in resp.text
    if resp.status_code >= 400:
        assert isinstance(resp.json().get("error"), str) and resp.json()["error"]


def _mutated_scope(draw: Any) -> str:
    base = draw(st.sampled_from([f"/subscriptions/{SUB}", f"/subscriptions/{SUB}/resourceGroups/rg-payments", CACHE]))
    where = draw(st.integers(0, len(base)))
    junk = draw(st.sampled_from(LOOKALIKES) | st.text(min_size=1, max_size=8))
    return base[:where] + junk + base[where:]


scopes = st.composite(lambda draw: _mutated_scope(draw))()
_scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=30)
json_values = st.recursive(_scalars, lambda inner: st.lists(inner, max_size=4)
                           | st.dictionaries(st.text(max_size=8), inner, max_size=4), max_leaves=10)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(body=st.one_of(
    st.binary(max_size=300),
    json_values.map(lambda v: json.dumps(v).encode()),
    st.fixed_dictionaries({"scope": scopes | json_values}, optional={"dryRun": json_values}).map(
        lambda d: json.dumps(d).encode()),
))
def test_fuzzed_scan_requests_get_a_clear_4xx_never_a_5xx(stack: HostStack, body: bytes) -> None:
    resp = _post(stack, body)
    _assert_clear_refusal(resp, {400, 403, 404, 413})


def test_a_scan_of_a_resource_group_that_does_not_exist_is_a_clear_404(stack: HostStack) -> None:
    """Found by the fuzz test above: a well-formed scope naming no resource group ARM knows answered 502,
    as if ARM or we had failed. ARM's 404 ResourceGroupNotFound is the request's fault."""
    resp = _post(stack, json.dumps({"scope": f"/subscriptions/{SUB}/resourceGroups/r"}).encode())
    _assert_clear_refusal(resp, {404})
    assert "was not found" in resp.json()["error"]


@settings(max_examples=40, deadline=None)
@given(scan_id=st.text(min_size=1, max_size=60) | st.sampled_from(
    ["..%2F..%2Fadmin", "%2e%2e/%2e%2e", "00000000-0000-4000-8000-00000000000０", str(uuid.uuid4()).upper()]))
def test_fuzzed_scan_ids_get_a_clear_4xx(stack: HostStack, scan_id: str) -> None:
    quoted = requests.utils.quote(scan_id, safe="%/")
    resp = requests.get(f"{stack.host.http_base_url}/api/scans/{quoted}",
                        headers={"x-functions-key": stack.host.function_key}, timeout=30)
    assert resp.status_code in (400, 404), (resp.status_code, resp.text[:200])
    assert "Traceback" not in resp.text


def test_huge_and_non_json_bodies_are_refused_clearly(stack: HostStack) -> None:
    _assert_clear_refusal(_post(stack, b"{" + b" " * 5000 + b"}"), {413})
    _assert_clear_refusal(_post(stack, b"x" * (2 * 1024 * 1024)), {413})
    _assert_clear_refusal(_post(stack, b"\xff\xfe not json"), {400})
    _assert_clear_refusal(_post(stack, json.dumps({"scope": CACHE, "dryRun": "yes"}).encode()), {400})
    _assert_clear_refusal(_post(stack, json.dumps({"scope": 42}).encode()), {400})


def test_anonymous_calls_get_401(stack: HostStack) -> None:
    assert _post(stack, json.dumps({"scope": CACHE}).encode(), key=False).status_code == 401
    resp = requests.get(f"{stack.host.http_base_url}/api/scans/{uuid.uuid4()}", timeout=30)
    assert resp.status_code == 401


def test_a_scope_outside_the_allowlist_is_403_with_a_log_line(stack: HostStack,
                                                             caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="redis_warden"):
        resp = _post(stack, json.dumps({"scope": f"/subscriptions/{OTHER_SUB}"}).encode())
    _assert_clear_refusal(resp, {403})
    assert "WARDEN_SUBSCRIPTIONS" in resp.json()["error"]
    assert any("scan refused" in r.getMessage() and OTHER_SUB in r.getMessage() for r in caplog.records)


def test_an_allowlisted_cache_scope_is_accepted(stack: HostStack) -> None:
    resp = _post(stack, json.dumps({"scope": CACHE, "dryRun": True}).encode())
    assert resp.status_code == 202 and resp.json()["cacheCount"] == 1


def _forged(subject: str, subscription: str = SUB) -> dict[str, Any]:
    return {
        "id": str(uuid.uuid4()), "topic": f"/subscriptions/{subscription}", "subject": subject,
        "eventType": "Microsoft.Resources.ResourceWriteSuccess", "eventTime": "2026-01-05T10:00:00Z",
        "dataVersion": "2", "metadataVersion": "1",
        "data": {"resourceUri": subject, "subscriptionId": subscription, "operationName": "Microsoft.Cache/redis/write",
                 "status": "Succeeded", "claims": {"appid": "forger"}, "correlationId": str(uuid.uuid4())},
    }


def test_forged_events_outside_the_remit_make_no_arm_call(stack: HostStack, caplog: pytest.LogCaptureFixture) -> None:
    other = cache_id("fuzz-cache", subscription_id=OTHER_SUB)
    forged = [
        _forged(other, OTHER_SUB),  # another subscription's cache
        _forged(CACHE.replace("Microsoft.Cache", "Microsoft.Сache")),  # Cyrillic С
        _forged(CACHE.replace("/Redis/", "/Redis%2F")),
        _forged(CACHE + "/../../../../providers/Microsoft.Storage/storageAccounts/x"),
        _forged(f"/subscriptions/{SUB}/resourceGroups/rg-payments/providers/Microsoft.Storage/storageAccounts/x"),
    ]
    assert stack.host.run_until_idle(60)  # work queued by earlier tests is done before counting
    before = sum(1 for r in stack.arm.requests() if (r["caller"] or {}).get("appid") == WARDEN_CLIENT_ID)
    queue = stack.queue("warden-events")
    with caplog.at_level(logging.INFO, logger="redis_warden"):
        for event in forged:
            queue.send_message(base64.b64encode(json.dumps(event).encode()).decode())
        assert stack.host.run_until_idle(60)
    after = sum(1 for r in stack.arm.requests() if (r["caller"] or {}).get("appid") == WARDEN_CLIENT_ID)
    assert after == before, "a forged event outside the remit cost an ARM call"
    ids = {e["id"] for e in forged}
    ignored = [r for r in stack.records() if r["kind"] == "ignored-event" and (r.get("trigger") or {}).get("event_id")
               in ids]
    assert len(ignored) == len(forged) and all(r.get("detail") for r in ignored)
    assert any("subscription not in WARDEN_SUBSCRIPTIONS" in r.getMessage() for r in caplog.records)


@settings(max_examples=300, deadline=None)
@given(scope=scopes)
def test_look_alike_subjects_never_parse_as_another_resource(scope: str) -> None:
    """A subject that is not exactly a cache id (or its child) is either refused or maps to the cache its
    ASCII, case-insensitive segments name; never to something a look-alike spelling smuggled in."""
    for parsed in parse_message(json.dumps(_forged(scope)).encode()):
        if isinstance(parsed, CacheChange):
            assert parsed.cache.arm_id.isascii()
            assert parsed.cache.subscription_id == SUB
            assert parsed.subject.lower().startswith(parsed.cache.key)
            assert "%" not in parsed.cache.arm_id
            assert not {".", ".."} & set(parsed.cache.arm_id.split("/"))
