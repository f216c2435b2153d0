"""The writing side the engine holds: one `AuditTrail` per process.

`record()` builds, hashes, stores and logs one record, in that order, and returns it only once it is
stored: the engine writes intent before each ARM write and the outcome after it, so a crash in between
leaves a `remediation-started` without its outcome, visibly. The lock makes one process's records a single
linear chain even when the host runs several functions at once.

`together()` gathers the records of a block that acts on nothing between them (the engine: one evaluation's
findings and its `evaluated` summary) and stores them in one append when the block ends, also when it
raises (issue 13: in Azure each record is an append-blob request, four per compliant event).
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from types import MappingProxyType
from typing import Any

from ..models import Actor
from .canonical import parse_utc
from .checkpoint import build_checkpoint
from .naming import checkpoint_blob_name, default_writer_id, safe_writer_id
from .schema import GENESIS, ChainHead, build_record, record_hash
from .signing import Signer, fingerprint, load_signer
from .sink import Sink
from .writer_key import RecordTrust, WriterKey, is_signed_format

logger = logging.getLogger("redis_warden.audit")
LOG_PREFIX = "audit-record "
CHECKPOINT_INTERVAL = timedelta(hours=1)
MAX_ALERTED_HEADS = 50  # heads named in one refusal alert (all are counted)


def _utcnow() -> datetime:
    return datetime.now(UTC)


class RecordBatch:
    """Records gathered by `AuditTrail.together`, stored when its block ends."""

    def __init__(self) -> None:
        self.entries: list[tuple[str, Mapping[str, Any]]] = []

    def record(self, kind: str, **fields: Any) -> None:
        self.entries.append((kind, fields))


class AuditTrail:
    def __init__(
        self,
        sink: Sink,
        *,
        writer_id: str,
        baseline_hash: str,
        our_identity: Mapping[str, Any] | Actor | None,
        record_upn: bool = False,
        signer: Signer | None = None,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.sink = sink
        self.writer_id = writer_id
        self.baseline_hash = baseline_hash
        self.our_identity = our_identity
        self.record_upn = record_upn
        self.signer = signer
        self._clock = clock or _utcnow
        self._lock = threading.Lock()
        self._uncovered_since: datetime | None = None  # first record not yet under a checkpoint
        self._written = 0
        self._closed = False
        self._writer_key: WriterKey | None = None  # made on the first record: one signing-key call
        self._alerted: set[tuple[str, int, str]] = set()  # refused heads already alerted by this process

    def set_baseline_hash(self, baseline_hash: str) -> None:
        """After a `baseline-changed` record, later records carry the new version."""
        with self._lock:
            self.baseline_hash = baseline_hash

    def _now(self) -> datetime:
        now = self._clock()
        if now.tzinfo is None:
            raise ValueError("the audit clock must return timezone-aware datetimes")
        return now.astimezone(UTC)

    def record(self, kind: str, **fields: Any) -> Mapping[str, Any]:
        """Store one record and return it (with chain, seq, time, hash). Raises on any failure: a caller
        about to make an ARM write must not make it when its intent could not be recorded. Fields as
        `schema.build_record` takes them (cache_id, rule, severity, before, after, trigger, drift_actor,
        request_id, outcome, detail; anything else goes into the record as is)."""
        return self.record_all([(kind, fields)])[0]

    @contextmanager
    def together(self) -> Iterator[RecordBatch]:
        """A batch whose records are stored in one append when the block ends (or raises). Only for blocks
        that make no ARM or state write between their records: until the block ends, nothing is stored."""
        batch = RecordBatch()
        try:
            yield batch
        finally:
            self.record_all(batch.entries)

    def record_all(self, entries: Sequence[tuple[str, Mapping[str, Any]]]) -> list[Mapping[str, Any]]:
        """Store (kind, fields) records in order, in one append where the sink allows; return them stored."""
        if not entries:
            return []
        makes = [self._maker(kind, **fields) for kind, fields in entries]
        with self._lock:
            if self._closed:
                raise RuntimeError("the audit trail is closed")
            if self.signer is not None and self._writer_key is None:
                self._writer_key = WriterKey(self.writer_id, self.signer, self._now())
            stored = self.sink.append_all(makes)
            self._written += len(stored)
            if self._uncovered_since is None:
                self._uncovered_since = parse_utc(stored[0][0]["time"])
        for record, _ in stored:
            _log(record)
        return [MappingProxyType(record) for record, _ in stored]

    def _maker(
        self,
        kind: str,
        *,
        cache_id: Any = None,
        rule: str | None = None,
        severity: str | None = None,
        before: Any = None,
        after: Any = None,
        trigger: Mapping[str, Any] | None = None,
        drift_actor: Mapping[str, Any] | Actor | str | None = None,
        request_id: str | None = None,
        outcome: Mapping[str, Any] | None = None,
        detail: str | None = None,
        **extra: Any,
    ) -> Callable[[ChainHead | None], dict[str, Any]]:
        """The record's builder, called by the sink under its lock with the head it follows."""

        def make(head: ChainHead | None) -> dict[str, Any]:
            now = self._now()
            if head is not None:
                # A chain's times never go backwards, even if the host clock does: verify relies on it.
                now = max(now, parse_utc(head.time))
            return build_record(
                kind=kind,
                chain=head.chain if head else self.writer_id,
                seq=head.seq + 1 if head else 0,
                prev_hash=head.hash if head else GENESIS,
                time=now,
                writer=self.writer_id,
                baseline_hash=self.baseline_hash,
                identity=self.our_identity if isinstance(self.our_identity, Mapping | Actor) else None,
                record_upn=self.record_upn,
                cache_id=cache_id,
                rule=rule,
                severity=severity,
                before=before,
                after=after,
                trigger=trigger,
                drift_actor=drift_actor,
                request_id=request_id,
                outcome=outcome,
                detail=detail,
                extra=extra,
                signer=self._writer_key,
            )

        return make

    def checkpoint(self) -> Mapping[str, Any] | None:
        """Sign the heads of every chain visible in the sink; None when no signing key is configured."""
        if self.signer is None:
            return None
        # Listing every chain can take a while: records keep flowing meanwhile (the lock is not held);
        # a record written during the listing simply stays "uncovered" until the next checkpoint.
        with self._lock:
            written_before = self._written
        now = self._now()
        trust = RecordTrust({fingerprint(self.signer.public_key_der)})
        heads: list[ChainHead] = []
        refused: list[tuple[ChainHead, str]] = []
        for head in self.sink.heads():
            why = head_problem(head, trust)
            if why is None:
                heads.append(head)
            else:
                refused.append((head, why))
        doc = build_checkpoint(heads, time=now, writer=self.writer_id, sink=self.sink.location, signer=self.signer,
                               refused=refused)
        where = self.sink.write_checkpoint(doc, checkpoint_blob_name(now, self.writer_id))
        with self._lock:
            if self._written == written_before:
                self._uncovered_since = None
        logger.info("audit checkpoint %s: %d chains, %d refused", where, len(heads), len(refused),
                    extra={"audit_checkpoint": doc["payload"]})
        self._alert_refused(refused)
        return MappingProxyType(doc)

    def _alert_refused(self, refused: list[tuple[ChainHead, str]]) -> None:
        """One `alert` naming every head this process newly refused to sign (one record, not one per head:
        right after an upgrade every schema-v1 chain's head is refused, and that is one thing to review)."""
        new = [(h, why) for h, why in refused if (h.chain, h.seq, h.hash) not in self._alerted]
        if not new:
            return
        self._alerted.update((h.chain, h.seq, h.hash) for h, _ in new)
        self.record(
            "alert",
            detail=f"checkpoint refused to sign the head of {len(new)} chain(s): not written by a certified "
                   "warden writer (planted or forged records, or chains from before record signatures)",
            heads=[{"chain": h.chain, "segment": h.segment, "seq": h.seq, "hash": h.hash, "reason": why}
                   for h, why in new[:MAX_ALERTED_HEADS]],
            refused_count=len(new),
        )

    def checkpoint_if_due(self, interval: timedelta = CHECKPOINT_INTERVAL) -> Mapping[str, Any] | None:
        """Checkpoint when this process wrote records that have waited `interval` without one. Call it
        from the timer trigger and after each reconcile: together they give "at least hourly"."""
        with self._lock:
            due = self._uncovered_since is not None and self._now() - self._uncovered_since >= interval
        return self.checkpoint() if due else None

    def close(self) -> None:
        with self._lock:
            self._closed = True
            self.sink.close()


UNSIGNED_HEAD = "unsigned (schema v1): nothing shows a warden writer wrote it"


def head_problem(head: ChainHead, trust: RecordTrust) -> str | None:
    """Why a checkpoint must not sign this head, or None when a certified writer wrote it."""
    record = head.record
    if record is None:
        return "its record could not be read"
    if record.get("hash") != head.hash or record.get("seq") != head.seq or record_hash(record) != head.hash:
        return "its contents do not match its hash"
    if not is_signed_format(record):
        return UNSIGNED_HEAD
    return trust.problem(record)


def _log(record: Mapping[str, Any]) -> None:
    """One log line per record: the JSON in the message (the classic Functions host forwards only the
    message to Application Insights) and the fields as `extra` (OpenTelemetry exporters map them to
    customDimensions), with the correlation id at top level for joining with Activity Log entries."""
    trigger = record.get("trigger") or {}
    logger.info(
        "%s%s",
        LOG_PREFIX,
        json.dumps(record, sort_keys=True, separators=(",", ":"), ensure_ascii=False),
        extra={
            "audit_record": dict(record),
            "audit_kind": record["kind"],
            "correlation_id": trigger.get("correlation_id"),
            "cache_id": record.get("cache_id"),
        },
    )


def open_trail(
    *,
    audit_file: str | None,
    blob_service: Any = None,
    container: str = "audit",
    checkpoint_container: str = "audit-checkpoints",
    signing_key: str | None,
    writer_id: str | None = None,
    baseline_hash: str,
    our_identity: Mapping[str, Any] | Actor | None,
    record_upn: bool = False,
    clock: Callable[[], datetime] | None = None,
    credential: Any = None,
    signer: Signer | None = None,
    rotate_blocks: int | None = None,
) -> AuditTrail:
    """The trail for this process: the file sink when `audit_file` is set (CLI, offline), else append
    blobs in `container` (the default in Azure). `signing_key` is a PEM path or a Key Vault key id;
    `credential` is used only for Key Vault. `signer` overrides `signing_key` (tests, other HSMs)."""
    writer = safe_writer_id(writer_id) if writer_id else default_writer_id()
    sink: Sink
    if audit_file:
        from .file_sink import FileSink

        sink = FileSink(audit_file, writer)
    elif blob_service is not None:
        from .blob_sink import DEFAULT_ROTATE_BLOCKS, BlobSink

        sink = BlobSink(
            blob_service,
            container=container,
            checkpoint_container=checkpoint_container,
            writer_id=writer,
            rotate_blocks=rotate_blocks or DEFAULT_ROTATE_BLOCKS,
        )
    else:
        raise ValueError("the audit trail needs WARDEN_AUDIT_FILE or a blob service (AzureWebJobsStorage)")
    return AuditTrail(
        sink,
        writer_id=writer,
        baseline_hash=baseline_hash,
        our_identity=our_identity,
        record_upn=record_upn,
        signer=signer or load_signer(signing_key, credential=credential),
        clock=clock,
    )
