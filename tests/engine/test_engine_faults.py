"""Issue 5, engine behaviour under injected ARM faults: timeouts, Retry-After, refusals, the deferral budget,
a cache deleted mid-reconcile, a long-running operation that ends Failed and one whose status polls go
unanswered. Real SDK, real Azurite, real emulator; assertions on the audit trail, the queues and the
emulator's request log, never on timings."""

from __future__ import annotations

import base64
import json
from datetime import timedelta
from pathlib import Path

import pytest

from emulator.testing import sample_cache
from remediators.engine.reconcile import Outcome
from remediators.workitem import WorkItem
from tests.reliability.rig import OFFICE, engine_rig, wait_for


def _drifted(name: str, **knobs) -> dict:
    return sample_cache(name, properties={"enableNonSslPort": True}, firewall_rules=[OFFICE], knobs=knobs or None)


def test_a_read_slower_than_the_client_timeout_is_cut_off_and_deferred(tmp_path: Path) -> None:
    slow = {"preset": "slow", "delaySeconds": 3, "method": "GET", "resource": "cache", "times": 5}
    with engine_rig(tmp_path, [_drifted("slow-cache", faults=[slow])]) as rig:
        rig.rt.gateway.session.timeout = 0.5  # the gateway's own read timeout, applied to every SDK call
        result = rig.reconcile("slow-cache")
        assert result.outcome is Outcome.DEFERRED
        deferred = rig.records("deferred", "slow-cache")[-1]
        assert deferred["outcome"]["kind"] == "transient"
        assert not rig.warden_writes()  # nothing written on a read that never came back
        # Decided when each request arrived (the log line is only written once the late answer is sent).
        slow_gets = [f for f in rig.arm.faults.injected if f[0] == "GET" and f[2] == "slow"]
        assert len(slow_gets) >= 2  # the SDK's bounded retry ran into the timeout each time, then gave up


def test_a_write_whose_answer_never_comes_is_failed_deferred_and_then_seen_done(tmp_path: Path) -> None:
    slow = {"preset": "slow", "delaySeconds": 2, "method": "PATCH", "resource": "cache", "times": 1}
    with engine_rig(tmp_path, [_drifted("slowwrite-cache", faults=[slow])]) as rig:
        rig.rt.gateway.session.timeout = 0.5
        assert rig.reconcile("slowwrite-cache").outcome is Outcome.DEFERRED
        failed = rig.records("remediation-failed", "slowwrite-cache")
        assert failed and failed[0]["outcome"]["kind"] == "transient"
        assert wait_for(lambda: rig.warden_calls("PATCH", "slowwrite-cache"))  # the late answer was sent
        # ARM took the write after all; the next reconcile reads fresh state and finds nothing to do.
        result = rig.reconcile("slowwrite-cache")
        assert result.outcome is Outcome.COMPLIANT
        assert rig.cache("slowwrite-cache")["properties"]["enableNonSslPort"] is False
        assert len(rig.warden_writes("slowwrite-cache")) == 1


def test_retry_after_is_honoured_even_beyond_the_longest_backoff(tmp_path: Path) -> None:
    throttle = {"preset": "throttled", "retryAfter": 1200, "method": "GET", "resource": "cache", "times": 3}
    with engine_rig(tmp_path, [_drifted("throttled-cache", faults=[throttle])]) as rig:
        assert rig.reconcile("throttled-cache").outcome is Outcome.DEFERRED
        deferred = rig.records("deferred", "throttled-cache")[-1]
        assert deferred["outcome"]["code"] == "SubscriptionRequestsThrottled"
        assert deferred["retry_in_seconds"] >= 1200  # above the 900 s backoff cap: ARM said so
        answered = [c for c in rig.warden_calls("GET", "throttled-cache") if c["status"] == 429]
        assert len(answered) == 1  # a long Retry-After is not slept through in the worker


@pytest.mark.parametrize(("preset", "code", "where"), [
    ("scopeLocked", "ScopeLocked", "cache"),
    ("disallowedByPolicy", "RequestDisallowedByPolicy", "cache"),
    ("linkedAuthorizationFailed", "LinkedAuthorizationFailed", "cache"),
])
def test_a_refused_write_is_blocked_once_and_never_retried(tmp_path: Path, preset: str, code: str,
                                                           where: str) -> None:
    refusal = {"preset": preset, "method": "PATCH", "resource": where, "times": 1}
    with engine_rig(tmp_path, [_drifted("locked-cache", faults=[refusal])]) as rig:
        result = rig.reconcile("locked-cache")
        assert result.outcome is Outcome.BLOCKED
        blocked = rig.records("blocked", "locked-cache")
        assert [b["outcome"]["code"] for b in blocked] == [code]
        assert len(rig.warden_writes("locked-cache")) == 1  # one attempt, no retry
        assert not rig.records("deferred")  # nothing re-queued
        assert rig.queue("warden-work").peek_messages(max_messages=32) == []


def test_after_the_budget_the_item_goes_to_poison_with_an_alert(tmp_path: Path) -> None:
    busy = {"preset": "busy", "method": "PATCH", "resource": "cache", "times": 10}
    with engine_rig(tmp_path, [_drifted("stuck-cache", faults=[busy])],
                    settings={"WARDEN_DEFER_BUDGET_SECONDS": "600"}) as rig:
        first_seen = rig.clock() - timedelta(seconds=601)
        result = rig.reconcile("stuck-cache", first_seen=first_seen)
        assert result.outcome is Outcome.GAVE_UP
        alert = rig.records("alert", "stuck-cache")
        assert len(alert) == 1 and "budget" in alert[0]["detail"]
        poisoned = rig.queue("warden-work-poison").peek_messages(max_messages=32)
        assert len(poisoned) == 1
        item = WorkItem.from_json(base64.b64decode(poisoned[0].content))
        assert item.cache.name == "stuck-cache" and item.first_seen == first_seen


def test_a_busy_cache_within_the_budget_is_requeued_with_a_delay(tmp_path: Path) -> None:
    busy = {"preset": "busy", "method": "PATCH", "resource": "cache", "times": 1, "retryAfter": 45}
    with engine_rig(tmp_path, [_drifted("busy-cache", faults=[busy])]) as rig:
        assert rig.reconcile("busy-cache").outcome is Outcome.DEFERRED
        deferred = rig.records("deferred", "busy-cache")[-1]
        assert deferred["outcome"]["kind"] == "busy" and deferred["retry_in_seconds"] >= 45
        assert rig.queue("warden-work").get_queue_properties().approximate_message_count == 1


@pytest.mark.parametrize("after", [1, 2])
def test_a_cache_deleted_while_it_is_reconciled_is_gone(tmp_path: Path, after: int) -> None:
    # after 1 request: the firewall list finds it gone; after 2: the PATCH does.
    with engine_rig(tmp_path, [_drifted("doomed-cache", deleteAfterRequests=after)]) as rig:
        result = rig.reconcile("doomed-cache")
        assert result.outcome is Outcome.GONE
        gone = rig.records("gone", "doomed-cache")
        assert len(gone) == 1 and gone[0]["outcome"]["code"] == "ResourceNotFound"
        assert rig.cache("doomed-cache") is None
        assert not rig.records("deferred")


def test_a_long_running_patch_that_ends_failed_is_retried_and_converges(tmp_path: Path) -> None:
    with engine_rig(tmp_path, [_drifted("flaky-cache", lroFailures=1)]) as rig:
        first = rig.reconcile("flaky-cache")
        assert first.outcome is Outcome.DEFERRED
        second = rig.reconcile("flaky-cache")
        assert second.outcome is Outcome.REMEDIATED
        assert rig.cache("flaky-cache")["properties"]["enableNonSslPort"] is False
        assert len([w for w in rig.warden_writes("flaky-cache") if w["method"] == "PATCH"]) == 2
        # Either shape: the poll (the cache GET, or the asyncOperations status URL answering
        # {"status": "Failed"}) tells the failure and the SDK's poller raises: ARM said failed, so it is.
        failed = [r["outcome"]["kind"] for r in rig.records("remediation-failed", "flaky-cache")]
        lro_failed = [f for f in rig.arm.faults.injected if f[2] == "lro-failed"]
        assert failed == ["transient"] or lro_failed


@pytest.mark.parametrize("poll_faults", [("throttled", "throttled", "reset"), ("internalError",) * 3],
                         ids=["reset-last", "http-errors"])
def test_a_patch_whose_status_polls_go_unanswered_is_pending_then_recorded_remediated(
    tmp_path: Path, poll_faults: tuple[str, ...]
) -> None:
    """The chaos run's lost write (test_chaos.py, seed 1003): ARM accepted the PATCH (202) and made the change,
    then every try of its status poll failed (429, 429, a reset: the pipeline's retries spent). The trail said
    `remediation-failed` and the next reconcile found the rule compliant, so no `remediated` record ever named
    the write ARM applied. An unanswered poll is not ARM saying the operation failed: the write is pending and
    a later read of the cache records its outcome. The recorded shape (status URL) is pinned: these faults aim
    at its polls."""
    faults = [{"preset": p, "method": "GET", "resource": "asyncOperation", "times": 1, "retryAfter": 1}
              for p in poll_faults]
    with engine_rig(tmp_path, [_drifted("pollfail-cache", faults=faults)], lro_shape="recorded") as rig:
        assert rig.reconcile("pollfail-cache").outcome is Outcome.DEFERRED
        polls = [f[2] for f in rig.arm.faults.injected if "/asyncoperations/" in f[1].lower()]
        assert polls == list(poll_faults)  # every try of the status poll went unanswered
        assert rig.reconcile("pollfail-cache").outcome is Outcome.COMPLIANT
        (patch,) = [w for w in rig.warden_writes("pollfail-cache") if w["method"] == "PATCH"]
        assert patch["status"] == 202 and rig.cache("pollfail-cache")["properties"]["enableNonSslPort"] is False
        assert rig.records("remediation-failed") == []
        (pending,) = rig.records("remediation-pending", "pollfail-cache")
        assert pending["request_id"] == patch["request_id"] and "status poll failed" in pending["outcome"]["detail"]
        done = [r for r in rig.records("remediated", "pollfail-cache") if r["rule"] == "non-ssl-port"]
        assert [r["request_id"] for r in done] == [patch["request_id"]]  # the write ARM applied is on record
        assert done[0]["outcome"]["confirmed_by"] == "operation status"


def test_a_pending_patch_undone_by_someone_before_it_is_settled_is_still_recorded_remediated(tmp_path: Path) -> None:
    """ARM applied the pending PATCH, then Jane turned the plaintext port back on before the next reconcile
    read the cache. That read alone cannot tell "not applied" from "applied, then undone" (it recorded
    `remediation-failed`, not-applied, for a write ARM had made): the operation's status URL, kept with the
    pending write, says Succeeded, so it is `remediated`; the drift is then fixed by a second PATCH."""
    from azure.mgmt.redis.models import RedisUpdateParameters

    faults = [{"preset": "reset", "method": "GET", "resource": "asyncOperation", "times": 3}]
    with engine_rig(tmp_path, [_drifted("undone-cache", faults=faults)], lro_shape="recorded") as rig:
        assert rig.reconcile("undone-cache").outcome is Outcome.DEFERRED
        jane = rig.jane()
        jane.redis.get("rg-payments", "undone-cache")  # ARM finishes the warden's operation...
        jane.redis.begin_update("rg-payments", "undone-cache",  # ...and Jane undoes it
                                RedisUpdateParameters(enable_non_ssl_port=True)).result()
        assert rig.reconcile("undone-cache").outcome is Outcome.REMEDIATED
        first, second = [w for w in rig.warden_writes("undone-cache") if w["method"] == "PATCH"]
        assert first["status"] == second["status"] == 202
        assert rig.records("remediation-failed") == []
        done = [r for r in rig.records("remediated", "undone-cache") if r["rule"] == "non-ssl-port"]
        assert [r["request_id"] for r in done] == [first["request_id"], second["request_id"]]
        assert done[0]["outcome"]["confirmed_by"] == "operation status"
        assert rig.cache("undone-cache")["properties"]["enableNonSslPort"] is False


def test_an_event_deferred_by_a_busy_cache_comes_back_as_a_readable_work_item(tmp_path: Path) -> None:
    """The deferred WorkItem of an event keeps the event's trigger (subject included) and is processed when
    it comes back, instead of being dropped as invalid: a deferral must never lose the event."""
    from azure.mgmt.redis.models import RedisUpdateParameters

    from remediators.entry.triggers import on_work_item
    from remediators.events import parse_message

    busy = {"preset": "busy", "method": "PATCH", "resource": "cache", "times": 1, "retryAfter": 1}
    with engine_rig(tmp_path, [sample_cache("event-cache", firewall_rules=[OFFICE])]) as rig:
        rig.jane().redis.begin_update("rg-payments", "event-cache",
                                      RedisUpdateParameters(enable_non_ssl_port=True)).result()
        with rig.arm.store.lock:  # the cache turns busy after Jane's write: the warden's PATCH meets a 409
            rig.arm.store.caches[rig.item("event-cache").cache.key].faults.append(busy)
        (event,) = rig.arm.events()
        (parsed,) = parse_message(json.dumps(event).encode())
        assert rig.rt.intake.handle_event(parsed) is Outcome.DEFERRED
        work = rig.queue("warden-work")
        messages = wait_for(lambda: list(work.receive_messages(max_messages=1, visibility_timeout=60)))
        assert len(messages) == 1
        body = base64.b64decode(messages[0].content).decode()
        item = WorkItem.from_json(body)
        assert item.trigger["event_id"] == event["id"] and item.trigger["subject"] == event["subject"]
        on_work_item(body, message_id=messages[0].id, dequeue_count=1, rt=rig.rt)
        assert not [r for r in rig.records("ignored-event") if "invalid work item" in r["detail"]]
        assert rig.cache("event-cache")["properties"]["enableNonSslPort"] is False


def test_a_firewall_list_arm_does_not_answer_is_read_again_later_and_its_drift_fixed(tmp_path: Path) -> None:
    """Chaos seed 3005 (issue 13's CI flake): the firewall-rule list answered 500 through every SDK retry, the
    firewall rule stayed `unknown` and the reconcile ended `compliant`, so a rule admitting everything stayed
    until the next event. A transient failure of one input now defers the cache to read it again, after
    what could be judged was done; a refusal for good (403, 404) does not (tests/integration/
    test_partial_failure.py)."""
    wide = ("anyone", "0.0.0.0", "255.255.255.255")
    down = {"preset": "internalError", "method": "GET", "resource": "firewallRules", "times": 4}
    cache = sample_cache("fwdown-cache", firewall_rules=[OFFICE, wide], knobs={"faults": [down]})
    with engine_rig(tmp_path, [cache]) as rig:
        first = rig.reconcile("fwdown-cache")
        assert first.outcome is Outcome.DEFERRED
        assert "could not read firewall_rules" in rig.records("deferred", "fwdown-cache")[-1]["detail"]
        assert [r for r in rig.records("alert", "fwdown-cache") if "firewall_rules" in str(r.get("detail"))]
        assert not rig.warden_writes("fwdown-cache")  # nothing guessed about rules it could not read
        second = rig.reconcile("fwdown-cache")  # the deferred item, once ARM answers again
        assert second.outcome is Outcome.REMEDIATED
        writes = [(w["method"], w["path"].rsplit("/", 1)[-1].lower()) for w in rig.warden_writes("fwdown-cache")]
        assert ("DELETE", "anyone") in writes and ("DELETE", "office") not in writes


def test_a_plan_the_safety_check_refuses_is_audited_and_deferred_not_raised(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`UnsafePlan` once escaped the reconcile (seen in chaos runs' host logs): the host retried the message
    and the trail never said how that reconcile ended. The planner is made to return a plan deleting a
    rule the snapshot does not hold, as a plan built from a view that no longer holds would."""
    from remediators.engine import reconcile as engine_reconcile
    from remediators.models import DeleteFirewallRule, Plan

    ghost = Plan(steps=(DeleteFirewallRule("firewall", "ghost", "10.0.0.1", "10.0.0.1"),))
    monkeypatch.setattr(engine_reconcile, "plan", lambda findings, snapshot: ghost)
    with engine_rig(tmp_path, [_drifted("unsafe-cache")]) as rig:
        result = rig.reconcile("unsafe-cache")
        assert result.outcome is Outcome.DEFERRED
        [alert] = [r for r in rig.records("alert", "unsafe-cache") if "safety check" in str(r.get("detail"))]
        assert "ghost is not present" in alert["detail"]
        assert not rig.warden_writes("unsafe-cache")
