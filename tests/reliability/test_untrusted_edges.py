"""Issue 11, the HTTP and queue edges: untrusted input is refused with a clear, audited reason, never
retried into poison, never answered with a 5xx, and never stored as raw text (UK GDPR minimisation).

Each of these was run against the project before this change and failed as described in the test.
Through the dev host running the real function_app, Azurite and the ARM emulator.
"""

from __future__ import annotations

import base64
import hashlib
import json
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests

from emulator.principals import WARDEN_CLIENT_ID
from emulator.testing import sample_cache
from tests.integration.stack import REPO, SUB, Stack, running_stack

OFFICE = ("office", "81.2.69.0", "81.2.69.255")
EVENTS = REPO / "reference" / "events"
# What a person's claims look like in a resource event; none of it may reach the trail.
UPN, NAME, CLIENT_IP = "jane.doe@contoso.co.uk", "Jane Doe", "81.2.69.142"


def _send(stack: Stack, queue: str, text: str) -> None:
    stack.queue(queue).send_message(base64.b64encode(text.encode("utf-8")).decode("ascii"))


def _arm_calls(stack: Stack) -> list[dict[str, Any]]:
    return [r for r in stack.arm.requests() if (r["caller"] or {}).get("appid") == WARDEN_CLIENT_ID
            and r["path"].lower().startswith("/subscriptions/")]


def _event_with_claims(**changes: Any) -> dict[str, Any]:
    event = json.loads((EVENTS / "redis-write.eventgrid.json").read_text(encoding="utf-8"))[0]
    event["id"] = str(uuid.uuid4())
    claims = {"name": NAME, "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/upn": UPN,
              "ipaddr": CLIENT_IP, "http://schemas.microsoft.com/identity/claims/objectidentifier":
              "9f2a6c1e-0000-4000-8000-000000000001"}
    event["data"] = {**event["data"], "claims": claims, "httpRequest": {"clientIpAddress": CLIENT_IP}}
    event.update(changes)
    return event


def _trail_text(stack: Stack) -> str:
    return stack.audit_file.read_text(encoding="utf-8") if stack.audit_file.exists() else ""


def _wait_for(stack: Stack, kind: str, timeout: float = 60.0) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout
    while not (found := [r for r in stack.records() if r["kind"] == kind]):
        assert time.monotonic() < deadline, f"no {kind} record within {timeout}s"
        time.sleep(0.1)
    return found


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    fleet = [sample_cache("edge-cache", properties={"enableNonSslPort": True}, firewall_rules=[OFFICE])]
    with running_stack(tmp_path_factory.mktemp("edges"), fleet, settings={"WARDEN_RECORD_UPN": "false"}) as s:
        yield s


def test_poison_and_ignored_records_keep_ids_and_a_body_hash_never_personal_data(stack: Stack) -> None:
    """Before: the poison `alert` stored a 4,000-character excerpt of the body (UPN, name, client IP)."""
    poisoned = json.dumps([_event_with_claims()])
    _send(stack, "warden-events-poison", poisoned)
    malformed_event = json.dumps([_event_with_claims(eventTime=f"not a time {UPN}")])
    _send(stack, "warden-events", malformed_event)
    _send(stack, "warden-work", json.dumps({"v": 1, "cache_id": f"/subscriptions/{SUB}/{UPN}", "note": NAME}))
    stack.settle()
    alert = _wait_for(stack, "alert")[-1]
    assert alert["body_sha256"] == hashlib.sha256(poisoned.encode()).hexdigest()
    assert alert["body_bytes"] == len(poisoned.encode())
    assert [i["id"] for i in alert["ids"]] == [json.loads(poisoned)[0]["id"]]
    assert "body_excerpt" not in alert
    ignored = [r for r in stack.records() if r["kind"] == "ignored-event"]
    assert any("invalid work item" in r["detail"] and r.get("body_sha256") for r in ignored), ignored
    assert any("malformed event" in r["detail"] for r in ignored), ignored
    text = _trail_text(stack)
    for personal in (UPN, NAME, CLIENT_IP):
        assert personal not in text, f"{personal!r} reached the audit trail"


def _item(**changes: Any) -> dict[str, Any]:
    now = datetime.now(UTC)
    item = {"v": 1, "cache_id": f"/subscriptions/{SUB}/resourceGroups/rg-payments/providers/Microsoft.Cache/"
            "Redis/edge-cache", "reason": "scan", "trigger": {"scan_id": str(uuid.uuid4())}, "dry_run": False,
            "attempt": 0, "first_seen": now.isoformat().replace("+00:00", "Z"), "not_before": None}
    item.update(changes)
    return item


def _iso(t: datetime) -> str:
    return t.isoformat().replace("+00:00", "Z")


def test_hostile_work_items_are_audited_and_dropped_not_retried_into_poison(stack: Stack) -> None:
    """Before: a nested item raised RecursionError, a scan id with `/` an HttpResponseError from the state
    table, a `not_before` 30 days ahead a queue error: each was retried into poison. A `first_seen` in the
    future was reconciled and would never be given up."""
    before_calls = len(_arm_calls(stack))
    before = len([r for r in stack.records() if r["kind"] == "ignored-event"])
    now = datetime.now(UTC)
    bodies = {
        "nested": "[" * 2000 + "]" * 2000,
        "scan id": json.dumps(_item(trigger={"scan_id": "../other/scan"})),
        "not_before": json.dumps(_item(not_before=_iso(now + timedelta(days=30)))),
        "first_seen": json.dumps(_item(first_seen=_iso(now + timedelta(days=2)))),
    }
    for body in bodies.values():
        _send(stack, "warden-work", body)
    stack.settle()
    ignored = [r for r in stack.records() if r["kind"] == "ignored-event"][before:]
    details = sorted(r["detail"] for r in ignored)
    assert details == sorted([
        "invalid work item dropped: nested too deeply",
        "invalid work item dropped: trigger.scan_id is not a scan id (lowercase UUID)",
        "invalid work item dropped: not_before is more than 7 days ahead",
        "invalid work item dropped: first_seen is in the future",
    ]), details
    assert {r["body_sha256"] for r in ignored} == {hashlib.sha256(b.encode()).hexdigest() for b in bodies.values()}
    assert len(_arm_calls(stack)) == before_calls
    for queue in ("warden-work", "warden-work-poison"):
        assert stack.queue(queue).get_queue_properties().approximate_message_count == 0, queue


def test_a_deeply_nested_scan_request_is_a_400_not_a_500(stack: Stack) -> None:
    """Before: 4 KiB of nested JSON raised RecursionError in the handler: HTTP 500."""
    body = b"[" * 2048 + b"]" * 2048
    resp = requests.post(f"{stack.host.http_base_url}/api/scans", data=body, timeout=30,
                         headers={"Content-Type": "application/json", "x-functions-key": stack.host.function_key})
    assert resp.status_code == 400, resp.text[:300]
    assert "JSON" in resp.json()["error"]


def test_with_a_bad_baseline_poison_still_alerts_and_http_answers_503_with_the_reason(tmp_path: Path) -> None:
    """Before: the runtime failed to build on every trigger; a message went to poison, the poison trigger
    failed the same way (no `alert`), and HTTP answered 500."""
    bad = json.dumps({"version": 1, "rules": {"tls-min-version": {"effect": "sometimes"}}})
    host_json = json.loads((REPO / "host.json").read_text(encoding="utf-8"))
    host_json["extensions"]["queues"].update({"visibilityTimeout": "00:00:00", "maxPollingInterval": "00:00:00.2"})
    fleet = [sample_cache("edge-cache", firewall_rules=[OFFICE])]
    with running_stack(tmp_path, fleet, settings={"WARDEN_BASELINE": bad}, host_json=host_json) as stack:
        resp = requests.post(f"{stack.host.http_base_url}/api/scans", json={"scope": f"/subscriptions/{SUB}"},
                             headers={"x-functions-key": stack.host.function_key}, timeout=30)
        assert resp.status_code == 503, resp.text[:300]
        assert resp.json()["error"].startswith("redis-warden cannot start:")
        assert "sometimes" in resp.json()["error"] or "effect" in resp.json()["error"]
        get = requests.get(f"{stack.host.http_base_url}/api/scans/{uuid.uuid4()}",
                           headers={"x-functions-key": stack.host.function_key}, timeout=30)
        assert get.status_code == 503
        event = _event_with_claims()
        _send(stack, "warden-events", json.dumps([event]))
        alert = _wait_for(stack, "alert")[0]
        assert alert["queue"] == "warden-events-poison"
        assert alert["startup_error"].startswith("redis-warden cannot start:")
        assert [i["id"] for i in alert["ids"]] == [event["id"]]
        assert alert["baseline"] == "0" * 64
        assert _arm_calls(stack) == []


def test_a_hostile_arm_is_refused_and_audited_by_the_engine(tmp_path: Path) -> None:
    """Issue 11 points 1, 3 and 8 end to end: a `..` rule from ARM is refused before planning (it once
    became `DELETE .../redis/{cache}`), an off-host nextLink and a self-referencing one are cut and the
    reconcile is `blocked` with the reason, and nothing is sent for any of them."""
    fleet = [
        sample_cache("dot-dot", firewall_rules=[OFFICE], knobs={"hostile": {"firewallRuleNames": [".."]}}),
        sample_cache("off-host", firewall_rules=[OFFICE], knobs={"hostile": {"firewallNextLink": "offHost"}}),
        sample_cache("loop", firewall_rules=[OFFICE], knobs={"hostile": {"firewallNextLink": "selfLoop"}}),
    ]
    with running_stack(tmp_path, fleet) as stack:
        for cache in fleet:
            _send(stack, "warden-work", json.dumps(_item(cache_id=cache["id"], trigger={})))
        stack.settle()
        manual = [r for r in stack.records() if r["kind"] == "manual-action-required"
                  and r["cache_id"].endswith("/dot-dot")]
        assert manual and "outside its grammar" in manual[0]["detail"], stack.kinds("dot-dot")
        blocked = {r["cache_id"].rsplit("/", 1)[-1]: r["outcome"]["code"] for r in stack.records()
                   if r["kind"] == "blocked"}
        assert blocked == {"off-host": "OffEndpointRequest", "loop": "PagingCut"}, blocked
        assert [r for r in stack.arm.requests() if r["method"] == "DELETE"] == []
        assert [r for r in stack.arm.requests() if "/hostile/" in r["path"]] == []
        assert stack.cache("dot-dot") is not None
        assert stack.queue("warden-work-poison").get_queue_properties().approximate_message_count == 0
