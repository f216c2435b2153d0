"""The queue triggers on awkward input, through the dev host running the real function_app: nothing is
dropped silently, nothing that is not ours to act on costs an ARM call, and a message that keeps failing
ends in `-poison` with an `alert`."""

from __future__ import annotations

import base64
import json
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from azure.mgmt.redis.models import RedisUpdateParameters

from emulator.principals import JANE_OBJECT_ID, WARDEN_CLIENT_ID
from emulator.testing import sample_cache
from remediators.engine import reconcile as engine
from remediators.resource_ids import CacheKind
from tests.integration.stack import REPO, SUB, Stack, running_stack

OFFICE = ("office", "81.2.69.0", "81.2.69.255")
EVENTS = REPO / "reference" / "events"
OTHER_SUB = "11111111-2222-4333-8444-555555555555"


def _send(stack: Stack, queue: str, payload: Any) -> None:
    """As Event Grid / the app enqueue: the text base64-encoded (host.json messageEncoding)."""
    raw = payload if isinstance(payload, bytes) else (
        payload if isinstance(payload, str) else json.dumps(payload)).encode("utf-8")
    stack.queue(queue).send_message(base64.b64encode(raw).decode("ascii"))


def _arm_calls(stack: Stack) -> list[dict[str, Any]]:
    return [r for r in stack.arm.requests() if (r["caller"] or {}).get("appid") == WARDEN_CLIENT_ID
            and r["path"].lower().startswith("/subscriptions/")]


def _sample(name: str) -> dict[str, Any]:
    return json.loads((EVENTS / name).read_text(encoding="utf-8"))[0]


def _fast_host_json() -> dict[str, Any]:
    """The repo's host.json with failed messages released at once, so five dequeues take milliseconds."""
    doc = json.loads((REPO / "host.json").read_text(encoding="utf-8"))
    doc["extensions"]["queues"].update({"visibilityTimeout": "00:00:00", "maxPollingInterval": "00:00:00.2"})
    return doc


def test_an_azure_managed_redis_event_is_never_dropped(tmp_path: Path) -> None:
    cluster = f"/subscriptions/{SUB}/resourceGroups/rg-payments/providers/Microsoft.Cache/redisEnterprise/amr-orders"
    event = _sample("redis-write.eventgrid.json")
    event.update(id=str(uuid.uuid4()), subject=f"{cluster}/databases/default")
    event["data"] = {**event["data"], "resourceUri": f"{cluster}/databases/default",
                     "operationName": "Microsoft.Cache/redisEnterprise/databases/write"}
    with running_stack(tmp_path, [sample_cache("orders-cache", firewall_rules=[OFFICE])]) as stack:
        _send(stack, "warden-events", event)
        stack.settle()
        mine = [r for r in stack.records() if (r.get("cache_id") or "").lower() == cluster.lower()]
        assert mine, "the event must leave a record for its cluster (databases map to their cluster)"
        assert not [r for r in stack.records() if r["kind"] == "ignored-event"]
        cluster_calls = [c for c in _arm_calls(stack) if c["path"].lower().startswith(cluster.lower())]
        if CacheKind.REDIS_ENTERPRISE in getattr(engine, "EVALUATED_KINDS", frozenset()):
            # Azure Managed Redis support has landed: the cluster is read from ARM and evaluated.
            assert cluster_calls and cluster_calls[0]["method"] == "GET", cluster_calls
            assert "not-evaluated" not in {r["kind"] for r in mine}
        else:
            assert [r["kind"] for r in mine] == ["not-evaluated"]
            assert cluster_calls == []


def _wait_for(stack: Stack, kind: str, timeout: float = 60.0) -> list[dict[str, Any]]:
    """Poll the trail (settle() cannot be used while a trigger queue is missing)."""
    deadline = time.monotonic() + timeout
    while not (found := [r for r in stack.records() if r["kind"] == kind]):
        assert time.monotonic() < deadline, f"no {kind} record within {timeout}s: {stack.kinds()}"
        time.sleep(0.1)
    return found


def test_a_message_that_keeps_failing_ends_in_poison_with_an_alert(tmp_path: Path) -> None:
    """Storage refuses the deferral (the work queue is gone), so handling the event fails every time: the
    host retries it maxDequeueCount times, moves it to `warden-events-poison`, and `on_poison` alerts."""
    busy = sample_cache("payments-cache", properties={"enableNonSslPort": True}, firewall_rules=[OFFICE],
                        knobs={"busyForGets": 1000})
    event = dict(_sample("redis-write.eventgrid.json"), id=str(uuid.uuid4()))
    host_json = _fast_host_json()
    with running_stack(tmp_path, [busy], host_json=host_json) as stack:
        _send(stack, "warden-events", _sample("storage-write.eventgrid.json"))  # builds the runtime first
        stack.settle()
        stack.queue("warden-work").delete_queue()
        _send(stack, "warden-events", event)
        alert = _wait_for(stack, "alert")[0]
        stack.queue("warden-work").create_queue()
        stack.settle()

        assert alert["queue"] == "warden-events-poison" and alert["message_id"]
        assert [i["id"] for i in alert["ids"]] == [event["id"]] and "body_excerpt" not in alert
        attempts = host_json["extensions"]["queues"]["maxDequeueCount"]
        reads = [c for c in _arm_calls(stack) if c["method"] == "GET" and c["path"].lower().endswith("/payments-cache")]
        assert len(reads) == attempts  # one fresh read per delivery, then no more
        assert [r["kind"] for r in stack.records()].count("alert") == 1
        for queue in ("warden-events", "warden-events-poison"):
            assert stack.queue(queue).get_queue_properties().approximate_message_count == 0


def test_an_invalid_work_item_is_audited_not_crashed(tmp_path: Path) -> None:
    cache = sample_cache("orders-cache", properties={"enableNonSslPort": True}, firewall_rules=[OFFICE])
    valid_but_for_version = {"v": 99, "cache_id": cache["id"], "reason": "scan", "trigger": {"scan_id": "x"},
                             "dry_run": False, "attempt": 0, "first_seen": "2026-11-28T09:00:00Z"}
    with running_stack(tmp_path, [cache]) as stack:
        for body in ("not json at all", json.dumps([1, 2]), json.dumps(valid_but_for_version),
                     json.dumps({**valid_but_for_version, "v": 1, "cache_id": "/subscriptions/x/../etc"})):
            _send(stack, "warden-work", body)
        stack.settle()
        ignored = [r for r in stack.records() if r["kind"] == "ignored-event"]
        assert len(ignored) == 4 and all("invalid work item" in r["detail"] for r in ignored), ignored
        assert not [r for r in stack.records() if r["kind"] == "alert"]
        assert _arm_calls(stack) == []
        assert stack.cache("orders-cache")["properties"]["enableNonSslPort"] is True
        assert stack.queue("warden-work-poison").get_queue_properties().approximate_message_count == 0


def test_a_duplicate_delivery_is_dropped_without_an_arm_call(tmp_path: Path) -> None:
    with running_stack(tmp_path, [sample_cache("orders-cache", firewall_rules=[OFFICE])]) as stack:
        stack.jane().redis.begin_update("rg-payments", "orders-cache",
                                        RedisUpdateParameters(enable_non_ssl_port=True)).result()
        stack.settle()
        assert stack.cache("orders-cache")["properties"]["enableNonSslPort"] is False
        janes = [e for e in stack.arm.events() if JANE_OBJECT_ID in json.dumps(e["data"]["claims"])]
        assert len(janes) == 1
        calls = len(_arm_calls(stack))

        _send(stack, "warden-events", janes[0])  # Event Grid delivers at least once: the same id again
        stack.settle()
        assert len(_arm_calls(stack)) == calls
        dropped = [r for r in stack.records() if r["kind"] == "ignored-event" and "duplicate" in r["detail"]]
        assert [r["trigger"]["event_id"] for r in dropped] == [janes[0]["id"]]


def test_forged_events_outside_our_remit_cost_no_arm_call(tmp_path: Path) -> None:
    foreign = json.loads(json.dumps(_sample("redis-write.eventgrid.json")).replace(SUB, OTHER_SUB))
    foreign_batch = [dict(foreign, id=str(uuid.uuid4())), dict(foreign, id=str(uuid.uuid4()))]
    storage = _sample("storage-write.eventgrid.json")
    fleet = [sample_cache("payments-cache", properties={"enableNonSslPort": True}, firewall_rules=[OFFICE])]
    with running_stack(tmp_path, fleet) as stack:
        _send(stack, "warden-events", dict(foreign, id=str(uuid.uuid4())))
        _send(stack, "warden-events", foreign_batch)
        _send(stack, "warden-events", storage)
        stack.settle()
        assert _arm_calls(stack) == []
        ignored = [r for r in stack.records() if r["kind"] == "ignored-event"]
        assert len(ignored) == 4, ignored
        assert sum("WARDEN_SUBSCRIPTIONS" in r["detail"] for r in ignored) == 3
        assert {r["kind"] for r in stack.records()} - {"baseline-changed"} == {"ignored-event"}
        # The cache in our own subscription with the same name was not touched on the forged event's say-so.
        assert stack.cache("payments-cache")["properties"]["enableNonSslPort"] is True


def test_the_monthly_timer_publishes_last_months_pack_once(tmp_path: Path) -> None:
    """The real function_app in the dev host, configured by app settings only: firing the timer puts the pack
    for the month before now into WARDEN_PACK_CONTAINER in Azurite, and firing it again replaces nothing."""
    from azure.storage.blob import BlobServiceClient

    from remediators.reporting.publish import previous_month

    with running_stack(tmp_path, [sample_cache("orders-cache", firewall_rules=[OFFICE])],
                       settings={"WARDEN_PACK_CONTAINER": "monthly-packs"}) as stack:
        slug = previous_month(datetime.now(UTC)).slug
        stack.host.fire_timer("monthly_assessment_pack")
        container = BlobServiceClient.from_connection_string(stack.azurite.connection_string) \
            .get_container_client("monthly-packs")
        first = {b.name: (b.etag, b.content_settings.content_type) for b in container.list_blobs()}
        assert sorted(first) == sorted(f"{slug}/{name}" for name in (
            f"redis-warden-assessment-{slug}.html", f"findings-{slug}.csv", f"caches-{slug}.csv",
            f"findings-{slug}.ocsf.json"))
        stack.host.fire_timer("monthly_assessment_pack", past_due=True)
        assert {b.name: (b.etag, b.content_settings.content_type) for b in container.list_blobs()} == first
        published = [r for r in stack.records() if r["kind"] == "report-published"]
        assert [{b["status"] for b in r["blobs"]} for r in published] == [{"uploaded"}, {"already-published"}]
        assert {b["name"] for b in published[0]["blobs"]} == set(first)
        assert not [r for r in stack.records() if r["kind"] == "alert"]
