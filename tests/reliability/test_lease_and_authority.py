"""Issue 11 points 4 and 5: the per-cache lease holds for the whole reconcile, and a work item on the
queue carries no authority. Real Azurite (leases, table), the dev host running the real function_app and
the ARM emulator.

Before: the lease was renewed only after a completed write, so a slow read or an LRO wait outlived its
60 s and a second worker started while the first then PATCHed from a stale snapshot; a message on
`warden-work` set the recorded drift actor and could count caches outside a scan towards finishing it.
"""

from __future__ import annotations

import base64
import hashlib
import json
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from azure.mgmt.redis.models import RedisUpdateParameters
from azure.storage.blob import BlobLeaseClient, BlobServiceClient

from devhost.azurite import Azurite
from emulator.principals import WARDEN_CLIENT_ID
from emulator.testing import sample_cache
from remediators.entry.runtime import get_runtime
from remediators.resource_ids import parse_cache_id
from remediators.settings import LEASE_CONTAINER, MAX_LRO_WAIT_SECONDS, Settings, SettingsError, StorageSettings
from remediators.state import store as state_store
from remediators.state.storage import StorageClients
from remediators.state.store import StateStore
from tests.integration.stack import SUB, Stack, running_stack

OFFICE = ("office", "81.2.69.0", "81.2.69.255")


def _send(stack: Stack, body: dict[str, Any]) -> None:
    stack.queue("warden-work").send_message(base64.b64encode(json.dumps(body).encode()).decode("ascii"))


def _item(cache_id: str, **changes: Any) -> dict[str, Any]:
    item = {"v": 1, "cache_id": cache_id, "reason": "event", "trigger": {}, "dry_run": False, "attempt": 0,
            "first_seen": datetime.now(UTC).isoformat().replace("+00:00", "Z"), "not_before": None}
    item.update(changes)
    return item


def _wait(stack: Stack, predicate: Any, timeout: float = 60.0) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout
    while not (found := [r for r in stack.records() if predicate(r)]):
        assert time.monotonic() < deadline, stack.kinds()
        time.sleep(0.1)
    return found


# ------------------------------------------------------------------------------------ the lease


@pytest.fixture
def store(azurite: Azurite) -> StateStore:
    s = StateStore(StorageClients(StorageSettings(connection_string=azurite.connection_string)))
    s.ensure()
    return s


def test_the_lease_is_renewed_while_a_slow_reconcile_runs(store: StateStore, monkeypatch: pytest.MonkeyPatch) -> None:
    """Azure's shortest lease (15 s) and a reconcile step that takes longer: the lease is still held."""
    monkeypatch.setattr(state_store, "LEASE_SECONDS", 15)
    cache = parse_cache_id(f"/subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.Cache/Redis/"
                           f"slow{uuid.uuid4().hex[:8]}")
    lease = store.try_lease(cache)
    assert lease is not None
    try:
        time.sleep(17)  # longer than the lease itself: only renewals keep it
        assert store.try_lease(cache) is None, "a second worker took the cache while the first still ran"
        lease.check()
    finally:
        lease.release()
    again = store.try_lease(cache)
    assert again is not None
    again.release()


def test_a_lost_lease_stops_the_write_it_would_have_made(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Between taking the lease (for the write the read found) and the PATCH, the lease lapses and a second
    worker takes it: no PATCH is sent."""
    fleet = [sample_cache("lease-cache", properties={"enableNonSslPort": True}, firewall_rules=[OFFICE])]
    with running_stack(tmp_path, fleet) as stack:
        rt = get_runtime()
        real_try_lease = rt.state.try_lease
        second: dict[str, BlobLeaseClient] = {}

        def lease_then_lose_it(cache: Any) -> Any:
            held = real_try_lease(cache)
            if held is not None and not second:
                blobs = BlobServiceClient.from_connection_string(stack.azurite.connection_string)
                blob = blobs.get_container_client(LEASE_CONTAINER).get_blob_client(
                    hashlib.sha256(cache.key.encode()).hexdigest())
                BlobLeaseClient(blob).break_lease(lease_break_period=0)
                taker = BlobLeaseClient(blob)
                taker.acquire(lease_duration=60)  # the second worker
                second["lease"] = taker
            return held

        monkeypatch.setattr(rt.state, "try_lease", lease_then_lose_it)
        _send(stack, _item(fleet[0]["id"], reason="scan"))
        lost = _wait(stack, lambda r: r["kind"] == "deferred" and "lease lost" in r.get("detail", ""))
        patches = [r for r in stack.arm.requests() if r["method"] == "PATCH"]
        assert patches == [], "a PATCH was sent after the lease was lost"
        assert not [r for r in stack.records() if r["kind"] == "remediation-started"]
        assert lost[0]["cache_id"] == fleet[0]["id"]
        second["lease"].release()
        monkeypatch.setattr(rt.state, "try_lease", real_try_lease)
        stack.settle(90)
        assert stack.cache("lease-cache")["properties"]["enableNonSslPort"] is False


def _warden_calls(stack: Stack, method: str) -> list[dict[str, Any]]:
    return [c for c in stack.arm.requests() if c["method"] == method and "/redis/lease-cache" in c["path"].lower()
            and (c["caller"] or {}).get("appid") == WARDEN_CLIENT_ID]


def test_a_compliant_cache_is_judged_without_its_lease(tmp_path: Path) -> None:
    """Issue 13: a reconcile that writes nothing to ARM takes no lease (two blob calls saved per event): the
    cache's lease blob is never even created, and the event is marked handled on its row."""
    fleet = [sample_cache("lease-cache", firewall_rules=[OFFICE])]
    with running_stack(tmp_path, fleet) as stack:
        _send(stack, _item(fleet[0]["id"], reason="scan"))
        _wait(stack, lambda r: r["kind"] == "evaluated" and r.get("cache_id") == fleet[0]["id"])
        stack.settle(60)
        container = BlobServiceClient.from_connection_string(stack.azurite.connection_string) \
            .get_container_client(LEASE_CONTAINER)
        key = hashlib.sha256(parse_cache_id(fleet[0]["id"]).key.encode()).hexdigest()
        assert key not in {b.name for b in container.list_blobs()}
        assert _warden_calls(stack, "PATCH") == []


def test_a_drift_read_without_the_lease_is_written_from_that_read_when_no_write_of_ours_ran_since(
        tmp_path: Path) -> None:
    """The lease is taken only for the write; its row's etag is unchanged, so the read stands: one cache GET
    before the PATCH, none wasted (issue 13)."""
    fleet = [sample_cache("lease-cache", properties={"enableNonSslPort": True}, firewall_rules=[OFFICE])]
    with running_stack(tmp_path, fleet) as stack:
        _send(stack, _item(fleet[0]["id"], reason="scan"))
        _wait(stack, lambda r: r["kind"] == "remediated")
        stack.settle(60)
        first_patch = min(c["time"] for c in _warden_calls(stack, "PATCH"))
        gets = [c for c in _warden_calls(stack, "GET") if c["path"].lower().endswith("/redis/lease-cache")]
        assert len([c for c in gets if c["time"] < first_patch]) == 1
        assert stack.cache("lease-cache")["properties"]["enableNonSslPort"] is False


def test_a_write_of_another_worker_between_the_unleased_read_and_the_lease_forces_a_fresh_read(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Attack on the etag check: after our read found the drift and before we take the lease, another worker
    takes the lease, fixes the cache and records it on the row (open and close its intent). Our snapshot is
    now stale; writing from it would PATCH a cache that no longer needs it (and, in general, act on a view
    older than a write of ours). The changed etag makes the reconcile read again under the lease: no PATCH."""
    fleet = [sample_cache("lease-cache", properties={"enableNonSslPort": True}, firewall_rules=[OFFICE])]
    with running_stack(tmp_path, fleet) as stack:
        rt = get_runtime()
        real_read = rt.gateway.read
        other = StateStore(StorageClients(StorageSettings(connection_string=stack.azurite.connection_string)))
        reads: list[str] = []

        def read_then_another_worker_fixes_it(cache: Any, needs: Any = frozenset(), **kw: Any) -> Any:
            snapshot = real_read(cache, needs, **kw)
            reads.append(cache.name)
            if len(reads) == 1:
                lease = other.try_lease(cache)
                assert lease is not None
                with lease:
                    other.open_intent(cache, {"rules": ["non-ssl-port"], "step": "patch", "arm_correlation_id": "x"})
                    stack.jane().redis.begin_update("rg-payments", "lease-cache",
                                                    RedisUpdateParameters(enable_non_ssl_port=False)).result()
                    other.clear_intent(cache)
            return snapshot

        monkeypatch.setattr(rt.gateway, "read", read_then_another_worker_fixes_it)
        _send(stack, _item(fleet[0]["id"], reason="scan"))
        _wait(stack, lambda r: r["kind"] == "evaluated" and r.get("cache_id") == fleet[0]["id"])
        stack.settle(60)
        assert _warden_calls(stack, "PATCH") == [], "a PATCH was decided on a read older than another write"
        assert len(reads) >= 2, "the reconcile did not read the cache again under the lease"
        assert not [r for r in stack.records() if r["kind"] == "remediation-started"]


def test_the_lro_wait_is_bounded_below_the_lease() -> None:
    assert MAX_LRO_WAIT_SECONDS < state_store.LEASE_SECONDS
    base = {"WARDEN_SUBSCRIPTIONS": SUB, "AzureWebJobsStorage__blobServiceUri": "https://st.blob.core.windows.net",
            "AzureWebJobsStorage__queueServiceUri": "https://st.queue.core.windows.net",
            "AzureWebJobsStorage__tableServiceUri": "https://st.table.core.windows.net"}
    assert Settings.from_env({**base, "WARDEN_LRO_WAIT_SECONDS": "45"}).lro_wait_seconds == 45
    with pytest.raises(SettingsError, match="WARDEN_LRO_WAIT_SECONDS"):
        Settings.from_env({**base, "WARDEN_LRO_WAIT_SECONDS": "300"})


# ------------------------------------------------------------------------------------ work items


def test_a_forged_work_item_cannot_name_the_drift_actor(tmp_path: Path) -> None:
    """A queued item claims Mallory's colleague made the firewall change: attribution stays unknown."""
    fleet = [sample_cache("forged-actor", firewall_rules=[OFFICE, ("open_all", "0.0.0.0", "255.255.255.255")])]
    cache = fleet[0]["id"]
    with running_stack(tmp_path, fleet) as stack:
        _send(stack, _item(cache, trigger={"event_id": str(uuid.uuid4()), "subject": f"{cache}/firewallRules/open_all",
                                           "actor_oid": "0badf00d-0000-4000-8000-000000000001",
                                           "type": "Microsoft.Resources.ResourceWriteSuccess"}))
        stack.settle()
        detected = [r for r in stack.records() if r["kind"] == "detected" and r.get("rule") == "firewall"]
        assert detected, stack.kinds()
        assert all(r["drift_actor"].get("unknown") for r in detected), [r["drift_actor"] for r in detected]
        assert "0badf00d" not in stack.audit_file.read_text(encoding="utf-8")


def test_a_forged_work_item_cannot_count_a_cache_towards_someone_elses_scan(store: StateStore) -> None:
    rg = f"/subscriptions/{SUB}/resourceGroups/rg-scan"
    member, other = (parse_cache_id(f"{rg}/providers/Microsoft.Cache/Redis/{n}") for n in ("member-a", "member-b"))
    outside = parse_cache_id(f"/subscriptions/{SUB}/resourceGroups/rg-x/providers/Microsoft.Cache/Redis/x")
    scan_id = str(uuid.uuid4())
    store.start_scan(scan_id, rg, 2, dry_run=False, members=[member, other])
    # Before: any cache counted, so two items naming caches outside (or one of them twice) finished it.
    assert store.cache_done(scan_id, outside, "compliant") is False
    assert store.cache_done(scan_id, member, "compliant") is False
    assert store.cache_done(scan_id, member, "compliant") is False
    progress = store.scan(scan_id)
    assert progress is not None and progress.done == 1 and not progress.finished
    assert store.cache_done(scan_id, other, "compliant") is True
    assert store.is_scan_member(scan_id, member) and not store.is_scan_member(scan_id, outside)
    assert not store.is_scan_member(str(uuid.uuid4()), member)


def test_a_deferred_events_attribution_comes_back_from_the_state_table(store: StateStore) -> None:
    from remediators.engine.authority import vouched
    from remediators.workitem import WorkItem

    cache = parse_cache_id(f"/subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.Cache/Redis/noted")
    event_id = str(uuid.uuid4())
    first = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
    store.note_event_trigger(event_id, cache, {"event_id": event_id, "subject": cache.arm_id,
                                               "actor_oid": "jane"}, first)
    forged = WorkItem(cache=cache, reason="deferred", first_seen=datetime(2026, 11, 2, 10, 0, tzinfo=UTC),
                      trigger={"event_id": event_id, "subject": cache.arm_id, "actor_oid": "mallory"})
    got = vouched(forged, store, now=datetime(2026, 11, 2, 10, 5, tzinfo=UTC))
    assert got.trigger["actor_oid"] == "jane" and got.first_seen == first
    other = parse_cache_id(f"/subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.Cache/Redis/elsewhere")
    assert "actor_oid" not in vouched(WorkItem(cache=other, reason="deferred", first_seen=first,
                                               trigger=dict(forged.trigger)), store, now=first).trigger
