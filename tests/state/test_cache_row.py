"""One row per cache on the real Storage protocol (Azurite): a reconcile's state is one read and one write
under its lease (issue 13), counted as HTTP round trips; concurrent writers lose nothing (etag); the rows of
earlier versions are still read; the handled-event list is bounded."""

from __future__ import annotations

import hashlib
import json
import threading
import uuid
from collections.abc import Iterator

import pytest

from devhost.azurite import Azurite
from remediators.settings import StorageSettings
from remediators.state.storage import StorageClients
from remediators.state.store import CACHE_PARTITION, EVENTS_KEPT, StateStore
from remediators.transport import StartupEnvTransport
from tests.state.conftest import cache


@pytest.fixture
def storage_calls(azurite: Azurite, monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Every HTTP request our clients send to this Azurite, as `METHOD path`, counted at the transport."""
    calls: list[str] = []
    ports = {str(p) for p in (azurite.blob_port, azurite.queue_port, azurite.table_port)}
    send = StartupEnvTransport.send

    def counting(self: StartupEnvTransport, request, **kwargs):  # type: ignore[no-untyped-def]
        if request.url.split("/")[2].rsplit(":", 1)[-1] in ports:
            calls.append(f"{request.method} {request.url.split('?')[0].split('/', 4)[-1]}")
        return send(self, request, **kwargs)

    monkeypatch.setattr(StartupEnvTransport, "send", counting)
    yield calls


def test_a_reconcile_s_state_is_one_read_and_one_write_under_its_lease(
        store: StateStore, storage_calls: list[str]) -> None:
    c = cache(f"r{uuid.uuid4().hex[:8]}")
    store.save_seen(c, {"tls": {"compliant": True, "value": "1.2"}})  # the row exists from an earlier event
    first = store.try_lease(c)  # and so does the lease blob (the very first acquire creates it)
    assert first is not None
    first.release()
    storage_calls.clear()
    lease = store.try_lease(c)
    assert lease is not None
    with lease:
        row = store.cache_row(c)
        assert row.last_seen == {"tls": {"compliant": True, "value": "1.2"}} and row.intent is None
        assert not row.handled("evt-1")
        store.save_seen(c, {"tls": {"compliant": True, "value": "1.2"}}, handled_event="evt-1")
    assert len(storage_calls) == 4, storage_calls  # lease, one GET of the row, one write of it, release
    assert [call.split()[0] for call in storage_calls] == ["PUT", "GET", "PUT", "PUT"]
    assert store.event_seen("evt-1", c)


def test_a_reconcile_that_writes_nothing_to_arm_is_one_read_and_one_write_of_its_row_without_a_lease(
        store: StateStore, storage_calls: list[str]) -> None:
    """Issue 13: a compliant event takes no lease; its last-seen write is If-Match the etag it read."""
    c = cache(f"u{uuid.uuid4().hex[:8]}")
    store.save_seen(c, {"tls": {"compliant": True, "value": "1.2"}})
    storage_calls.clear()
    row = store.cache_row(c)
    store.save_seen(c, {"tls": {"compliant": True, "value": "1.3"}}, handled_event="evt-u", read=row)
    assert [call.split()[0] for call in storage_calls] == ["GET", "PUT"], storage_calls
    assert store.event_seen("evt-u", c) and store.last_seen(c) == {"tls": {"compliant": True, "value": "1.3"}}


def test_a_write_from_a_row_read_without_the_lease_loses_nothing_written_since(
        store: StateStore, azurite: Azurite) -> None:
    """Another worker opened an intent on the row after this one read it: the conditional write fails its
    etag check, re-reads and keeps the intent (and both events)."""
    c = cache(f"x{uuid.uuid4().hex[:8]}")
    elsewhere = StateStore(StorageClients(StorageSettings(connection_string=azurite.connection_string)))
    store.save_seen(c, {"tls": {"compliant": True, "value": "1.2"}}, handled_event="evt-a")
    row = store.cache_row(c)
    elsewhere.open_intent(c, {"rules": ["non-ssl-port"], "step": "PATCH"})
    store.save_seen(c, {"tls": {"compliant": True, "value": "1.2"}}, handled_event="evt-b", read=row)
    after = store.cache_row(c)
    assert after.intent == {"rules": ["non-ssl-port"], "step": "PATCH"}
    assert after.handled("evt-a") and after.handled("evt-b")


def test_writes_under_the_lease_need_no_re_read(store: StateStore, storage_calls: list[str]) -> None:
    """A drifted cache: intent opened and closed around a write, then the snapshot: each one call."""
    c = cache(f"w{uuid.uuid4().hex[:8]}")
    lease = store.try_lease(c)
    assert lease is not None
    with lease:
        store.cache_row(c)
        storage_calls.clear()
        store.open_intent(c, {"rules": ["non-ssl-port"], "step": "PATCH"})
        store.clear_intent(c)
        store.save_seen(c, {"non-ssl-port": {"compliant": True, "value": False}}, handled_event="evt-2")
        assert len(storage_calls) == 3, storage_calls
    assert store.open_intent_of(c) is None and store.event_seen("evt-2", c)


def test_an_event_marked_outside_the_lease_is_not_lost_to_the_lease_holder_s_write(
        store: StateStore, azurite: Azurite, storage_calls: list[str]) -> None:
    """The lease holder writes from the row it read; another worker (its own process: its own store) that
    deferred marks its event meanwhile. The holder's write then fails its etag check, re-reads, keeps both."""
    c = cache(f"m{uuid.uuid4().hex[:8]}")
    elsewhere = StateStore(StorageClients(StorageSettings(connection_string=azurite.connection_string)))
    lease = store.try_lease(c)
    assert lease is not None
    with lease:
        store.cache_row(c)
        elsewhere.mark_event("deferred-elsewhere", c)
        storage_calls.clear()
        store.save_seen(c, {"a": {"compliant": True, "value": 1}}, handled_event="handled-here")
    # Its create is refused (409: the other worker made the row), it re-reads, writes, releases the lease.
    assert [call.split()[0] for call in storage_calls] == ["POST", "GET", "PUT", "PUT"]
    row = store.cache_row(c)
    assert row.handled("deferred-elsewhere") and row.handled("handled-here")
    assert row.last_seen == {"a": {"compliant": True, "value": 1}}


def test_concurrent_marks_of_one_cache_all_count(azurite: Azurite) -> None:
    """Workers in different processes (each its own store) marking events of one cache at once."""
    c = cache(f"k{uuid.uuid4().hex[:8]}")
    ids = [f"evt-{i}" for i in range(8)]
    stores = [StateStore(StorageClients(StorageSettings(connection_string=azurite.connection_string))) for _ in ids]
    threads = [threading.Thread(target=s.mark_event, args=(i, c)) for s, i in zip(stores, ids, strict=True)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    row = stores[0].cache_row(c)
    assert all(row.handled(i) for i in ids)


def test_rows_of_earlier_versions_are_read_when_the_cache_has_no_row(store: StateStore) -> None:
    """Before one row per cache, snapshot, intent and pending were rows of their own partitions: an open
    intent left by a worker of the earlier version must still be resumed after an upgrade."""
    c = cache(f"l{uuid.uuid4().hex[:8]}")
    key = hashlib.sha256(c.key.encode()).hexdigest()  # the row key the earlier version wrote under
    table = store._table
    table.upsert_entity({"PartitionKey": "intent", "RowKey": key, "Body": json.dumps({"step": "PATCH"})})
    table.upsert_entity({"PartitionKey": "snapshot", "RowKey": key,
                         "Body": json.dumps({"tls": {"compliant": True, "value": "1.2"}})})
    row = store.cache_row(c)
    assert row.intent == {"step": "PATCH"} and row.last_seen == {"tls": {"compliant": True, "value": "1.2"}}
    store.clear_intent(c)  # the first write creates the row, carrying the snapshot over
    row = store.cache_row(c)
    assert row.intent is None and row.last_seen == {"tls": {"compliant": True, "value": "1.2"}}
    assert table.get_entity(CACHE_PARTITION, key)["CacheId"] == c.arm_id


def test_the_handled_events_kept_per_cache_are_bounded(store: StateStore) -> None:
    c = cache(f"b{uuid.uuid4().hex[:8]}")
    lease = store.try_lease(c)
    assert lease is not None
    with lease:
        for i in range(EVENTS_KEPT + 5):
            store.mark_event(f"evt-{i}", c)
    row = store.cache_row(c)
    assert len(row.events) == EVENTS_KEPT
    assert not row.handled("evt-0") and row.handled(f"evt-{EVENTS_KEPT + 4}") and row.handled("evt-5")
