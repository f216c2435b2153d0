"""Shared state on the real Storage protocol (Azurite): leases, dedup, last-seen snapshots, scan progress."""

from __future__ import annotations

import uuid

from devhost.azurite import Azurite
from remediators.settings import StorageSettings
from remediators.state.storage import StorageClients, send_text
from remediators.state.store import StateStore
from tests.state.conftest import SUB, cache


def test_lease_is_exclusive_per_cache_and_case_insensitive(store: StateStore) -> None:
    name = f"c{uuid.uuid4().hex[:8]}"
    first = store.try_lease(cache(name))
    assert first is not None
    assert store.try_lease(cache(name.upper())) is None  # same cache, other casing
    other = store.try_lease(cache(name + "x"))
    assert other is not None
    other.release()
    first.renew()
    first.release()
    again = store.try_lease(cache(name))
    assert again is not None
    again.release()
    again.release()  # releasing twice is harmless


def test_event_dedup_records_after_handling(store: StateStore) -> None:
    event_id = f"evt/{uuid.uuid4()}#?"  # characters a table key may not hold
    c = cache(f"e{uuid.uuid4().hex[:8]}")
    assert not store.event_seen(event_id, c)
    store.mark_event(event_id, c)
    assert store.event_seen(event_id, c)
    assert not store.event_seen(f"evt/{uuid.uuid4()}", c)


def test_last_seen_round_trip(store: StateStore) -> None:
    c = cache(f"s{uuid.uuid4().hex[:8]}")
    assert store.last_seen(c) is None
    store.save_seen(c, {"non-ssl-port": {"compliant": True, "value": False}})
    assert store.last_seen(c) == {"non-ssl-port": {"compliant": True, "value": False}}


def test_scan_progress_finishes_exactly_once(store: StateStore) -> None:
    scan_id = str(uuid.uuid4())
    caches = [cache(f"p{i}{uuid.uuid4().hex[:6]}") for i in range(3)]
    store.start_scan(scan_id, f"/subscriptions/{SUB}", len(caches), dry_run=True)
    assert store.cache_done(scan_id, caches[0], "compliant") is False
    assert store.cache_done(scan_id, caches[1], "remediated") is False
    assert store.cache_done(scan_id, caches[2], "compliant") is True
    assert store.cache_done(scan_id, caches[2], "compliant") is False  # a redelivery does not finish twice
    progress = store.scan(scan_id)
    assert progress is not None and progress.finished
    assert progress.outcomes == {"compliant": 2, "remediated": 1}
    assert store.scan(str(uuid.uuid4())) is None


def test_queue_messages_are_base64_like_event_grid(azurite: Azurite) -> None:
    clients = StorageClients(StorageSettings(connection_string=azurite.connection_string))
    q = clients.queue(f"q{uuid.uuid4().hex[:10]}")
    q.create_queue()
    send_text(q, '{"v": 1}')
    from azure.storage.queue import QueueClient

    raw = QueueClient.from_connection_string(azurite.connection_string, q.queue_name)
    (msg,) = list(raw.receive_messages())
    assert msg.content == "eyJ2IjogMX0="  # base64 of {"v": 1}, exactly what the host decodes
