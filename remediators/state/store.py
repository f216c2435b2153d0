"""Shared state in Azure Storage: per-cache blob leases and the state table.

Leases make "one reconcile per cache at a time" hold across function instances and the CLI: a blob lease is
exclusive, expires on its own if a worker dies (so a crash cannot wedge a cache), and needs no extra service.
The table keeps what must survive a process: per cache, one row (`CacheRow`) with the events already
handled (dedup), the last-seen snapshot (drift attribution), an open intent and a pending fix, so an event
costs one read and one write of the table (issue 13: it was four reads and two writes), and no lease unless
it writes to ARM (engine.reconcile: the row's etag tells whether a write of ours ran since it was read);
the fleet-wide breaker and per-rule flap counters; and scan progress. Each scan's progress is one row per
cache, so workers finishing caches concurrently never contend on a single counter row.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, TypeVar

from azure.core import MatchConditions
from azure.core.exceptions import (
    HttpResponseError,
    ResourceExistsError,
    ResourceModifiedError,
    ResourceNotFoundError,
)
from azure.data.tables import TableClient, UpdateMode
from azure.storage.blob import BlobLeaseClient, ContainerClient

from ..resource_ids import ResourceId, parse_scope
from ..settings import LEASE_CONTAINER, STATE_TABLE
from .baseline_ledger import BaselineLedger
from .storage import StorageClients

LEASE_SECONDS = 60  # Azure allows 15-60 s or infinite; finite so a dead worker's lease expires.
# WARDEN_LRO_WAIT_SECONDS (settings.MAX_LRO_WAIT_SECONDS) stays below LEASE_SECONDS, and the lease is renewed
# every third of its duration while a reconcile runs, so a slow read or an LRO wait cannot outlive it.
log = logging.getLogger("redis_warden.state")
_SWAP_ATTEMPTS = 50  # optimistic-concurrency retries on one counter row before giving up loudly
T = TypeVar("T")
_MAX_SNAPSHOT_CHARS = 30_000  # a table property holds at most 64 KiB (32K UTF-16 characters)
CACHE_PARTITION = "cache"  # one row per cache: last seen, open intent, pending fix, recent events
EVENTS_KEPT = 500  # handled event ids remembered per cache (32 hex characters each: 16K of the 32K a property holds)


def _acquired(lease: BlobLeaseClient) -> CacheLease | None:
    try:
        lease.acquire(lease_duration=LEASE_SECONDS)
    except HttpResponseError as exc:  # a missing blob (404, ResourceNotFoundError) propagates to the caller
        if exc.status_code == 409:  # LeaseAlreadyPresent: another worker holds it
            return None
        raise
    held = CacheLease(lease, renew_every=LEASE_SECONDS / 3)
    held.start()
    return held


class LeaseLost(RuntimeError):
    """The per-cache lease is no longer ours (it lapsed, was broken or taken): another worker may be
    reconciling the cache, so no write may be made from what this one read."""


def _row_key(text: str) -> str:
    """Table keys may not contain / \\ # ? or control characters: hash anything untrusted."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _event_key(event_id: str) -> str:
    return _row_key(event_id)[:32]  # 128 bits of SHA-256: no accidental collision among a cache's events


def _plain(body: Mapping[str, Any]) -> dict[str, Any]:
    """JSON-normalised (tuples become lists), so a value compares equal to itself read back."""
    decoded: dict[str, Any] = json.loads(json.dumps(dict(body), sort_keys=True))
    return decoded


def _body(text: Any) -> Any:
    return json.loads(text) if isinstance(text, str) and text else None


@dataclass(frozen=True)
class CacheRow:
    """What the state table keeps for one cache, in one row (PartitionKey "cache") so that an event costs
    one read and one write of it (issue 13): the last-seen snapshot (drift attribution), the write a dead
    worker left open (intent), the accepted write still running (pending), and the ids of the events
    already handled for the cache (dedup of redeliveries, newest last, at most EVENTS_KEPT)."""

    last_seen: Mapping[str, Any] | None = None
    intent: Mapping[str, Any] | None = None
    pending: Mapping[str, Any] | None = None
    events: tuple[str, ...] = ()
    etag: str | None = None  # None: no row yet (the first write creates it)

    def handled(self, event_id: str) -> bool:
        return _event_key(event_id) in self.events

    def with_event(self, event_id: str) -> CacheRow:
        key = _event_key(event_id)
        if key in self.events:
            return self
        return replace(self, events=(*self.events, key)[-EVENTS_KEPT:])

    def to_entity(self) -> dict[str, Any]:
        def dump(value: Mapping[str, Any] | None) -> str:
            return "" if value is None else json.dumps(value, sort_keys=True, separators=(",", ":"))

        return {"Seen": dump(self.last_seen), "Intent": dump(self.intent), "Pending": dump(self.pending),
                "Events": ",".join(self.events)}

    @classmethod
    def from_entity(cls, entity: Mapping[str, Any], etag: str | None) -> CacheRow:
        events = str(entity.get("Events") or "")
        return cls(last_seen=_body(entity.get("Seen")), intent=_body(entity.get("Intent")),
                   pending=_body(entity.get("Pending")), events=tuple(e for e in events.split(",") if e), etag=etag)


@dataclass
class CacheLease:
    """A held per-cache lease, kept for the whole reconcile: a daemon thread renews it every
    `renew_every` seconds while it is held, `check()` renews it synchronously right before each write
    (and raises LeaseLost when it is gone), and `release` always (use as a context manager)."""

    client: BlobLeaseClient
    released: bool = False
    on_release: Callable[[], None] | None = field(default=None, repr=False)
    renew_every: float = LEASE_SECONDS / 3
    lost: str | None = None  # why the lease is known to be gone
    _stop: threading.Event = field(default_factory=threading.Event, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _keeper: threading.Thread | None = field(default=None, repr=False)

    def start(self) -> None:
        self._keeper = threading.Thread(target=self._keep, name="warden-lease-keeper", daemon=True)
        self._keeper.start()

    def _keep(self) -> None:
        while not self._stop.wait(self.renew_every):
            try:
                self.renew()
            except LeaseLost as exc:
                log.warning("per-cache lease lost while reconciling: %s", exc)
                return

    def renew(self) -> None:
        with self._lock:
            if self.released:
                return
            if self.lost:
                raise LeaseLost(self.lost)
            try:
                self.client.renew()
            except HttpResponseError as exc:
                if exc.status_code in (409, 412):  # LeaseIdMismatch / LeaseLost / LeaseNotPresent
                    self.lost = f"renewing the lease failed: {exc.error_code or exc.status_code}"
                    raise LeaseLost(self.lost) from exc
                raise

    def check(self) -> None:
        """Right before a write: renew now (one storage call), so the write starts with a full lease."""
        self.renew()

    def release(self) -> None:
        if self.on_release is not None:
            self.on_release()
        self._stop.set()
        if self._keeper is not None and self._keeper is not threading.current_thread():
            self._keeper.join(timeout=5)
        if self.released:
            return
        with self._lock:
            self.released = True
        try:
            self.client.release()
        except HttpResponseError as exc:
            # Lost or expired leases cannot be released; the lease ends by itself within LEASE_SECONDS.
            if exc.status_code not in (409, 412):
                raise

    def __enter__(self) -> CacheLease:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


@dataclass(frozen=True)
class ScanProgress:
    scan_id: str
    scope: str
    total: int
    done: int
    outcomes: Mapping[str, int]
    started: str
    dry_run: bool
    dry_run_sources: tuple[str, ...] = ()

    @property
    def finished(self) -> bool:
        return self.done >= self.total

    def as_dict(self) -> dict[str, Any]:
        return {
            "scanId": self.scan_id,
            "scope": self.scope,
            "cacheCount": self.total,
            "done": self.done,
            "finished": self.finished,
            "outcomes": dict(self.outcomes),
            "started": self.started,
            "dryRun": self.dry_run or bool(self.dry_run_sources),  # in force, from every source
            "dryRunSources": list(self.dry_run_sources),
        }


class StateStore:
    def __init__(self, clients: StorageClients) -> None:
        self._clients = clients
        self._leases: ContainerClient = clients.blob_service.get_container_client(LEASE_CONTAINER)
        self._table: TableClient = clients.table(STATE_TABLE)
        self._ready = False
        # The cache rows of the caches whose lease this process holds, as last read or written (with etag),
        # so each write under the lease is one call. Dropped on release; a stale one costs a 412 and a re-read.
        self._rows: dict[str, CacheRow | None] = {}
        self._rows_lock = threading.Lock()

    def ensure(self) -> None:
        """Create the lease container and state table if missing (idempotent, once per process)."""
        if self._ready:
            return
        with contextlib.suppress(ResourceExistsError):
            self._leases.create_container()
        with contextlib.suppress(ResourceExistsError):
            self._clients.table_service.create_table(STATE_TABLE)
        self._ready = True

    def baseline_ledger(self) -> BaselineLedger:
        """The row remembering the last baseline seen, for the once-only `baseline-changed` record."""
        return BaselineLedger(self._table)

    # ------------------------------------------------------------------------------------------ leases

    def try_lease(self, cache: ResourceId) -> CacheLease | None:
        """Take the cache's lease, or None when another worker holds it. One storage call per reconcile:
        the lease blob is only created when the first acquire finds it missing. While it is held, the
        cache's row is kept as last read or written (`cache_row`), so writes under it need no re-read."""
        key = _row_key(cache.key)
        blob = self._leases.get_blob_client(key)
        lease = BlobLeaseClient(blob)
        try:
            held = _acquired(lease)
        except ResourceNotFoundError:
            with contextlib.suppress(ResourceExistsError):  # another worker created it meanwhile
                blob.upload_blob(b"", overwrite=False)
            held = _acquired(lease)
        if held is not None:
            with self._rows_lock:
                self._rows[key] = None
            held.on_release = lambda: self._forget(key)
        return held

    def _forget(self, key: str) -> None:
        with self._rows_lock:
            self._rows.pop(key, None)

    # ------------------------------------------------------------------------------------------ per-cache row

    def cache_row(self, cache: ResourceId) -> CacheRow:
        """Everything kept for the cache (last seen, open intent, pending fix, handled events): one GET.
        The reconcile reads it once, right after taking the lease."""
        return self._read_cache_row(_row_key(cache.key))

    def _read_cache_row(self, key: str) -> CacheRow:
        try:
            entity = self._table.get_entity(CACHE_PARTITION, key)
        except ResourceNotFoundError:
            row = self._legacy_row(key)
        else:
            row = CacheRow.from_entity(entity, entity.metadata["etag"])
        with self._rows_lock:
            if key in self._rows:  # only while this process holds the cache's lease (see try_lease)
                self._rows[key] = row
        return row

    def _legacy_row(self, key: str) -> CacheRow:
        """A cache with no row yet: what versions before the one-row layout kept in one partition each
        (read once per cache: the first write creates the row), so an upgrade loses no open intent."""
        found: dict[str, Any] = {}
        for partition in ("snapshot", "intent", "pending"):
            with contextlib.suppress(ResourceNotFoundError):
                found[partition] = json.loads(self._table.get_entity(partition, key)["Body"])
        return CacheRow(last_seen=found.get("snapshot"), intent=found.get("intent"), pending=found.get("pending"),
                        etag=None)

    def _change_cache_row(self, cache: ResourceId, change: Callable[[CacheRow], CacheRow],
                          read: CacheRow | None = None) -> None:
        """Write `change(row)` with etag concurrency: one call while this process holds the lease (the row it
        read is kept until release) or when the caller passes the row it `read`, a GET first otherwise.
        Writers outside the lease (an event marked after a deferral, a reconcile that wrote nothing to ARM)
        lose no one's change: a 412 or 409 re-reads and applies `change` again."""
        key = _row_key(cache.key)
        with self._rows_lock:
            row = self._rows.get(key) or read
        for _ in range(_SWAP_ATTEMPTS):
            if row is None:
                row = self._read_cache_row(key)
            new = change(row)
            if new == row:
                return
            entity = {**new.to_entity(), "PartitionKey": CACHE_PARTITION, "RowKey": key, "CacheId": cache.arm_id[:512]}
            try:
                if row.etag is None:
                    meta = self._table.create_entity(entity)
                else:
                    meta = self._table.update_entity(entity, mode=UpdateMode.REPLACE, etag=row.etag,
                                                     match_condition=MatchConditions.IfNotModified)
            except (ResourceExistsError, ResourceModifiedError, ResourceNotFoundError):
                row = None  # someone else wrote (or created) it first: decide again on what they wrote
                continue
            with self._rows_lock:
                if key in self._rows:
                    self._rows[key] = replace(new, etag=meta["etag"])
            return
        raise RuntimeError(f"state row of {cache.arm_id}: still contended after {_SWAP_ATTEMPTS} attempts")

    # ------------------------------------------------------------------------------------------ events

    def event_seen(self, event_id: str, cache: ResourceId) -> bool:
        """Whether this event id was already handled for this cache (its recent events are kept on its row)."""
        return self.cache_row(cache).handled(event_id)

    def mark_event(self, event_id: str, cache: ResourceId) -> None:
        """Record an event as handled, after its handling finished (or was handed to a WorkItem), so a
        redelivery of the same event id is dropped while a crash before this point still retries. A
        reconcile that saves the last-seen snapshot marks its event in the same write (`save_seen`)."""
        self._change_cache_row(cache, lambda row: row.with_event(event_id))

    def note_event_trigger(self, event_id: str, cache: ResourceId, trigger: Mapping[str, str],
                           first_seen: datetime) -> None:
        """What an event said (caller, subject, correlation id) and when it was first seen, kept when its
        reconcile is deferred: the WorkItem that comes back from the queue is only a hint, and its claims
        are taken from here (engine.authority)."""
        self._table.upsert_entity({
            "PartitionKey": "trigger", "RowKey": _row_key(event_id), "CacheKey": cache.key[:512],
            "Trigger": json.dumps(dict(trigger), sort_keys=True)[:30_000], "FirstSeen": first_seen.isoformat(),
        })

    def event_trigger(self, event_id: str, cache: ResourceId) -> tuple[dict[str, str], datetime] | None:
        """The trigger noted for this event on this cache, or None (never noted: a forged or foreign item)."""
        try:
            row = self._table.get_entity("trigger", _row_key(event_id))
        except ResourceNotFoundError:
            return None
        if row.get("CacheKey") != cache.key:
            return None
        trigger = json.loads(row["Trigger"])
        return {str(k): str(v) for k, v in trigger.items()}, datetime.fromisoformat(row["FirstSeen"])

    # ------------------------------------------------------------------------------------------ snapshots

    def last_seen(self, cache: ResourceId) -> Mapping[str, Any] | None:
        return self.cache_row(cache).last_seen

    def save_seen(self, cache: ResourceId, view: Mapping[str, Any], *, handled_event: str | None = None,
                  read: CacheRow | None = None) -> None:
        """The last-seen snapshot, and the event this reconcile handled (if any) marked in the same write;
        `read`: the row as the caller read it without the lease, so the write is one call (If-Match its etag)."""
        body = json.dumps(view, sort_keys=True, separators=(",", ":"))
        seen: Mapping[str, Any] = {"truncated": True} if len(body) > _MAX_SNAPSHOT_CHARS else json.loads(body)

        def change(row: CacheRow) -> CacheRow:
            new = replace(row, last_seen=seen)
            return new.with_event(handled_event) if handled_event else new

        self._change_cache_row(cache, change, read)

    # ------------------------------------------------------------------------------------------ counters

    def read_row(self, partition: str, row: str) -> Mapping[str, Any] | None:
        try:
            return dict(self._table.get_entity(partition, row))
        except ResourceNotFoundError:
            return None

    def swap_row(
        self, partition: str, row: str, change: Callable[[Mapping[str, Any] | None], tuple[T, Mapping[str, Any] | None]]
    ) -> T:
        """Read a row, let `change` decide (result, new properties or None for "no write"), and write it
        only if nobody else wrote in between (etag match, or create-if-absent); on a lost race, re-read and
        decide again. This is how concurrent workers count breaker and flap events exactly once."""
        for _ in range(_SWAP_ATTEMPTS):
            try:
                entity = self._table.get_entity(partition, row)
            except ResourceNotFoundError:
                entity = None
            result, new = change(dict(entity) if entity is not None else None)
            if new is None:
                return result
            body = {**new, "PartitionKey": partition, "RowKey": row}
            try:
                if entity is None:
                    self._table.create_entity(body)
                else:
                    self._table.update_entity(body, mode=UpdateMode.REPLACE, etag=entity.metadata["etag"],
                                              match_condition=MatchConditions.IfNotModified)
            except (ResourceExistsError, ResourceModifiedError):
                continue  # another worker wrote first: decide again on what it wrote
            return result
        raise RuntimeError(f"state row {partition}/{row}: still contended after {_SWAP_ATTEMPTS} attempts")

    # ------------------------------------------------------------------------------------------ open intents

    def open_intent(self, cache: ResourceId, intent: Mapping[str, Any]) -> None:
        """Mark an ARM write on the cache as in flight (set before the write and its intent record)."""
        self._change_cache_row(cache, lambda row: replace(row, intent=_plain(intent)))

    def open_intent_of(self, cache: ResourceId) -> Mapping[str, Any] | None:
        """The write a previous reconcile left in flight (its process died), or None."""
        return self.cache_row(cache).intent

    def clear_intent(self, cache: ResourceId) -> None:
        self._change_cache_row(cache, lambda row: replace(row, intent=None))

    # ------------------------------------------------------------------------------------------ pending fixes

    def open_pending(self, cache: ResourceId, pending: Mapping[str, Any]) -> None:
        """A write ARM accepted (202) whose operation was still running when this reconcile stopped waiting,
        or whose status polls went unanswered: a later reconcile decides its outcome (the operation's status
        URL kept here, else the cache)."""
        self._change_cache_row(cache, lambda row: replace(row, pending=_plain(pending)))

    def pending_of(self, cache: ResourceId) -> Mapping[str, Any] | None:
        return self.cache_row(cache).pending

    def clear_pending(self, cache: ResourceId) -> None:
        self._change_cache_row(cache, lambda row: replace(row, pending=None))

    # ------------------------------------------------------------------------------------------ scans

    def start_scan(
        self, scan_id: str, scope: str, total: int, *, dry_run: bool, members: Iterable[ResourceId] = (),
        dry_run_sources: tuple[str, ...] = (),
    ) -> None:
        """The scan's head row and one row per member cache (written first, in batches): a work item may
        only count a cache towards a scan that listed it, so a forged item cannot finish someone's scan."""
        rows = [{"PartitionKey": f"scanmember-{scan_id}", "RowKey": _row_key(c.key), "CacheId": c.arm_id[:512]}
                for c in members]
        for start in range(0, len(rows), 100):  # a table transaction takes at most 100 entities
            self._table.submit_transaction([("upsert", row) for row in rows[start : start + 100]])
        self._table.create_entity(
            {
                "PartitionKey": "scan",
                "RowKey": scan_id,
                "Scope": scope,
                "Total": total,
                "DryRun": dry_run,
                "DryRunSources": ",".join(dry_run_sources),
                "Started": datetime.now(UTC).isoformat(),
                "Members": bool(rows) or total == 0,
            }
        )

    def is_scan_member(self, scan_id: str, cache: ResourceId) -> bool:
        """Whether the scan listed this cache when it started (scans from before member rows: by scope)."""
        try:
            head = self._table.get_entity("scan", scan_id)
        except ResourceNotFoundError:
            return False
        if not head.get("Members"):
            return parse_scope(head["Scope"]).contains(cache)
        try:
            self._table.get_entity(f"scanmember-{scan_id}", _row_key(cache.key))
        except ResourceNotFoundError:
            return False
        return True

    def scan_dry_run(self, scan_id: str) -> bool:
        try:
            return bool(self._table.get_entity("scan", scan_id).get("DryRun"))
        except ResourceNotFoundError:
            return False

    def cache_done(self, scan_id: str, cache: ResourceId, outcome: str) -> bool:
        """Record one cache of a scan as done. True exactly once per scan: for the caller that completes it
        (it then writes `scan-finished` and a checkpoint). A cache the scan did not list is not counted."""
        if not self.is_scan_member(scan_id, cache):
            return False
        self._table.upsert_entity(
            {"PartitionKey": f"scan-{scan_id}", "RowKey": _row_key(cache.key), "Outcome": outcome}
        )
        progress = self.scan(scan_id)
        if progress is None or not progress.finished:
            return False
        try:
            self._table.create_entity({"PartitionKey": f"scan-{scan_id}", "RowKey": "~finished"})
        except ResourceExistsError:
            return False
        return True

    def scan(self, scan_id: str) -> ScanProgress | None:
        try:
            head = self._table.get_entity("scan", scan_id)
        except ResourceNotFoundError:
            return None
        outcomes: dict[str, int] = {}
        done = 0
        for row in self._table.query_entities(
            "PartitionKey eq @pk", parameters={"pk": f"scan-{scan_id}"}, select=["RowKey", "Outcome"]
        ):
            if row["RowKey"] == "~finished":
                continue
            done += 1
            outcomes[row["Outcome"]] = outcomes.get(row["Outcome"], 0) + 1
        return ScanProgress(
            scan_id=scan_id,
            scope=head["Scope"],
            total=int(head["Total"]),
            done=done,
            outcomes=outcomes,
            started=head["Started"],
            dry_run=bool(head["DryRun"]),
            dry_run_sources=tuple(x for x in str(head.get("DryRunSources") or "").split(",") if x),
        )
