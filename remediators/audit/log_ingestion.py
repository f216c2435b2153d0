"""Audit records into Log Analytics as typed rows of the custom table `RedisWardenAudit_CL`, through the
Logs Ingestion API (`azure-monitor-ingestion`): a data collection endpoint (DCE) and rule (DCR) that
infra/modules/monitoring.bicep deploys with the same columns as `COLUMNS` below.

Why a typed table: a message string parsed back with `substring` in KQL loses types (times become text,
the hash chain is not queryable), and the workspace's 90 days are shorter than the trail's retention. The
table has its own retention, set to the trail's.

The trail in storage stays the record of truth. Rows are sent by a logging handler on the
`redis_warden.audit` logger (every stored record is logged there with `extra={"audit_record": ...}`), so
writing to storage never waits for or depends on Log Analytics: a failed upload keeps its rows for the next
flush (bounded; the overflow is counted and logged), and `python -m remediators audit ingest` re-sends a
period from storage to fill a gap. Pure mapping plus a small handler; the HTTP call is the SDK's.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from .canonical import parse_utc

TABLE = "RedisWardenAudit_CL"
STREAM = "Custom-RedisWardenAudit"
# (column, Log Analytics type). One list for the code, the DCR stream declaration and the table schema
# (tests/audit/test_log_ingestion.py compares it with infra/modules/monitoring.bicep).
COLUMNS: tuple[tuple[str, str], ...] = (
    ("TimeGenerated", "datetime"),
    ("Kind", "string"),
    ("CacheId", "string"),
    ("CacheName", "string"),
    ("ResourceGroup", "string"),
    ("SubscriptionId", "string"),
    ("Rule", "string"),
    ("Severity", "string"),
    ("FindingStatus", "string"),
    ("Effect", "string"),
    ("CorrelationId", "string"),
    ("EventId", "string"),
    ("ScanId", "string"),
    ("DriftActorOid", "string"),
    ("DriftActorAppId", "string"),
    ("RequestId", "string"),
    ("OutcomeCode", "string"),
    ("OutcomeMessage", "string"),
    ("ExemptionId", "string"),
    ("ExemptionExpires", "datetime"),
    ("Detail", "string"),
    ("Baseline", "string"),
    ("Writer", "string"),
    ("Chain", "string"),
    ("Seq", "long"),
    ("Hash", "string"),
    ("PrevHash", "string"),
    ("Record", "dynamic"),
)
COLUMN_TYPES = dict(COLUMNS)

_log = logging.getLogger("redis_warden.log_ingestion")


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _text(value: Any) -> str | None:
    if value is None:
        return None
    return value if isinstance(value, str) else json.dumps(value, sort_keys=True, ensure_ascii=False)


def _time(value: Any) -> str | None:
    """ISO 8601 UTC for a datetime column, or None (an unreadable time is not sent as a datetime)."""
    try:
        return parse_utc(str(value)).strftime("%Y-%m-%dT%H:%M:%S.%fZ") if value else None
    except ValueError:
        return None


def row(record: Mapping[str, Any]) -> dict[str, Any]:
    """One table row for one stored record. Absent fields are absent (null in the table), never ''."""
    trigger, outcome = _mapping(record.get("trigger")), _mapping(record.get("outcome"))
    exemption, actor = _mapping(record.get("exemption")), _mapping(record.get("drift_actor"))
    cache_id = record.get("cache_id") if isinstance(record.get("cache_id"), str) else None
    parts = cache_id.split("/") if cache_id else []
    values: dict[str, Any] = {
        "TimeGenerated": _time(record.get("time")),
        "Kind": record.get("kind"),
        "CacheId": cache_id,
        "CacheName": parts[-1] if len(parts) >= 9 else None,
        "ResourceGroup": parts[4] if len(parts) >= 5 and parts[3].lower() == "resourcegroups" else None,
        "SubscriptionId": parts[2] if len(parts) >= 3 and parts[1].lower() == "subscriptions" else None,
        "Rule": record.get("rule"),
        "Severity": record.get("severity"),
        "FindingStatus": record.get("finding_status"),
        "Effect": record.get("effect"),
        "CorrelationId": trigger.get("correlation_id"),
        "EventId": trigger.get("event_id"),
        "ScanId": record.get("scan_id") or trigger.get("scan_id"),
        "DriftActorOid": actor.get("oid"),
        "DriftActorAppId": actor.get("appid"),
        "RequestId": record.get("request_id"),
        "OutcomeCode": outcome.get("code"),
        "OutcomeMessage": outcome.get("message"),
        "ExemptionId": exemption.get("id"),
        "ExemptionExpires": _time(exemption.get("expires")),
        "Detail": record.get("detail"),
        "Baseline": record.get("baseline"),
        "Writer": record.get("writer"),
        "Chain": record.get("chain"),
        "Seq": record.get("seq") if isinstance(record.get("seq"), int) else None,
        "Hash": record.get("hash"),
        "PrevHash": record.get("prev_hash"),
        "Record": dict(record),
    }
    out: dict[str, Any] = {}
    for name, value in values.items():
        if value is None:
            continue
        kind = COLUMN_TYPES[name]
        out[name] = _text(value) if kind == "string" else value
    return out


class Uploader:
    """The one call the handler needs: `upload(rows)`, raising on failure (the SDK client's `upload` with
    the rule id and stream bound)."""

    def __init__(self, client: Any, rule_id: str, stream: str = STREAM) -> None:
        self.client, self.rule_id, self.stream = client, rule_id, stream

    def __call__(self, rows: Sequence[Mapping[str, Any]]) -> None:
        self.client.upload(rule_id=self.rule_id, stream_name=self.stream, logs=list(rows))


class LogsIngestionHandler(logging.Handler):
    """Buffers the rows of audit records logged on `redis_warden.audit` and uploads them in batches: when
    `capacity` rows are waiting, when the oldest has waited `max_wait` seconds (checked as records arrive),
    on `flush()` and at interpreter exit (logging.shutdown). A failed upload keeps the rows for the next
    try; past `max_buffer` the oldest rows are dropped and counted (`dropped`), and logged as an error: the
    trail in storage still holds them, and `audit ingest` re-sends them."""

    def __init__(
        self, upload: Callable[[Sequence[Mapping[str, Any]]], None], *, capacity: int = 100,
        max_wait: float = 5.0, max_buffer: int = 50_000, clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(level=logging.INFO)
        self.upload, self.capacity, self.max_wait, self.max_buffer = upload, capacity, max_wait, max_buffer
        self._clock = clock
        self._rows: list[dict[str, Any]] = []
        self._oldest: float | None = None
        self._send_lock = threading.Lock()
        self.sent = 0
        self.failures = 0
        self.dropped = 0

    def emit(self, record: logging.LogRecord) -> None:
        audit = getattr(record, "audit_record", None)
        if not isinstance(audit, Mapping):
            return  # checkpoint notices and the like are not records
        with self.lock:  # type: ignore[union-attr]  # logging.Handler creates it in __init__
            self._rows.append(row(audit))
            if self._oldest is None:
                self._oldest = self._clock()
            overflow = len(self._rows) - self.max_buffer
            if overflow > 0:
                del self._rows[:overflow]
                self.dropped += overflow
                _log.error("Logs Ingestion: %d audit rows dropped from the buffer after failed uploads; "
                           "re-send them with `python -m remediators audit ingest`", overflow)
            due = len(self._rows) >= self.capacity or self._clock() - (self._oldest or 0) >= self.max_wait
        if due:
            self.flush()

    def flush(self) -> None:
        """Upload everything buffered; on failure keep it (in order) for the next flush and log a warning
        naming the error. Never raises into the code that logged the record."""
        with self._send_lock:
            with self.lock:  # type: ignore[union-attr]
                batch, self._rows, self._oldest = self._rows, [], None
            if not batch:
                return
            try:
                self.upload(batch)
            except Exception as exc:  # noqa: BLE001 - any SDK/transport error: keep the rows, retry later
                self.failures += 1
                with self.lock:  # type: ignore[union-attr]
                    self._rows[:0] = batch
                    self._oldest = self._oldest or self._clock()
                _log.warning("Logs Ingestion upload of %d audit rows failed (%s: %s); kept for the next try",
                             len(batch), exc.__class__.__name__, str(exc).splitlines()[0] if str(exc) else "")
                return
            self.sent += len(batch)

    @property
    def pending(self) -> int:
        return len(self._rows)


def ingest(upload: Callable[[Sequence[Mapping[str, Any]]], None], records: Iterable[Mapping[str, Any]],
           batch: int = 500) -> int:
    """Send stored records (a backfill from the trail); returns how many rows were sent. Raises on the
    first failed batch, naming how many were sent before it."""
    sent, pending = 0, []
    for record in records:
        pending.append(row(record))
        if len(pending) >= batch:
            upload(pending)
            sent, pending = sent + len(pending), []
    if pending:
        upload(pending)
        sent += len(pending)
    return sent


_installed: dict[tuple[str, str, str], LogsIngestionHandler] = {}


def install(settings: Any, credential: Any) -> LogsIngestionHandler:
    """Attach one handler per (endpoint, rule, stream) to the `redis_warden.audit` logger, once per process
    (Runtime.build may run more than once), with the app's credential (scope https://monitor.azure.com)."""
    key = (settings.endpoint, settings.rule_id, settings.stream)
    if key in _installed:
        return _installed[key]
    from azure.monitor.ingestion import LogsIngestionClient

    client = LogsIngestionClient(endpoint=settings.endpoint, credential=credential)
    handler = LogsIngestionHandler(Uploader(client, settings.rule_id, settings.stream))
    audit_logger = logging.getLogger("redis_warden.audit")
    if audit_logger.getEffectiveLevel() > logging.INFO:
        audit_logger.setLevel(logging.INFO)  # records are logged at INFO; the handler must see them
    audit_logger.addHandler(handler)
    _installed[key] = handler
    return handler


def flush_installed() -> None:
    """Send what is buffered, at the end of each invocation (an instance may be frozen or recycled before
    the next record arrives). A failure stays buffered and logged, as in `flush`."""
    for handler in _installed.values():
        handler.flush()
