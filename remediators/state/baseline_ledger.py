"""`baseline-changed`: written once when the app starts with a baseline it has not seen before.

The last baseline seen lives in one row of the state table (PartitionKey "baseline", RowKey "current"):
its version hash and canonical document, the previous ones, whether the record was written, and when the
row was claimed. Many instances start at once after a deploy; exactly one may write the record:
- the first ever start creates the row (create-if-not-exists: a second creator gets 409 and stands down);
- a change replaces the row only if its ETag is still the one read (If-Match: a second writer gets 412);
- the winner writes the audit record, then marks the row `Recorded`. If it died in between, a later start
  finds the row unrecorded and older than `STALE_CLAIM`, claims it again (ETag again) and writes it, so a
  crash can delay the record but never lose it; a claim younger than that is another instance at work.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from azure.core import MatchConditions
from azure.core.exceptions import HttpResponseError, ResourceExistsError, ResourceNotFoundError
from azure.data.tables import TableClient, UpdateMode

from ..baseline import Baseline, diff_baselines
from ..baseline.document import canonical_json

PARTITION, ROW = "baseline", "current"
STALE_CLAIM = timedelta(minutes=5)
MAX_DOCUMENT_CHARS = 30_000  # a table property holds at most 64 KiB (32K UTF-16 characters)


class AuditSink(Protocol):
    def record(self, kind: str, **fields: Any) -> Mapping[str, Any]: ...


@dataclass(frozen=True)
class SeenBaseline:
    version_hash: str
    document: Mapping[str, Any] | None  # None: too large to keep in the row
    previous_hash: str | None
    previous_document: Mapping[str, Any] | None
    recorded: bool
    claimed_at: datetime
    etag: str


def _doc_text(doc: Mapping[str, Any] | None) -> str:
    if doc is None:
        return ""
    text = canonical_json(doc).decode("utf-8")
    return text if len(text) <= MAX_DOCUMENT_CHARS else ""


def _doc(text: Any) -> Mapping[str, Any] | None:
    return json.loads(text) if isinstance(text, str) and text else None


class BaselineLedger:
    """The one table row; every write is conditional, so concurrent starters cannot both win."""

    def __init__(self, table: TableClient) -> None:
        self.table = table

    def seen(self) -> SeenBaseline | None:
        try:
            row = self.table.get_entity(PARTITION, ROW)
        except ResourceNotFoundError:
            return None
        return SeenBaseline(
            version_hash=row["Hash"],
            document=_doc(row.get("Document")),
            previous_hash=row.get("PreviousHash") or None,
            previous_document=_doc(row.get("PreviousDocument")),
            recorded=bool(row.get("Recorded")),
            claimed_at=datetime.fromisoformat(row["ClaimedAt"]),
            etag=row.metadata["etag"],
        )

    def claim(self, baseline: Baseline, seen: SeenBaseline | None, now: datetime) -> SeenBaseline | None:
        """Make this instance the one that records `baseline`; None when another instance already did."""
        if seen is not None and seen.version_hash == baseline.version_hash:
            previous_hash, previous_doc = seen.previous_hash, seen.previous_document  # re-claim after a crash
        else:
            previous_hash = seen.version_hash if seen else None
            previous_doc = seen.document if seen else None
        entity = {
            "PartitionKey": PARTITION, "RowKey": ROW, "Hash": baseline.version_hash,
            "Document": _doc_text(baseline.document), "PreviousHash": previous_hash or "",
            "PreviousDocument": _doc_text(previous_doc), "Recorded": False, "ClaimedAt": now.isoformat(),
        }
        try:
            if seen is None:
                meta = self.table.create_entity(entity)
            else:
                meta = self.table.update_entity(entity, mode=UpdateMode.REPLACE, etag=seen.etag,
                                                match_condition=MatchConditions.IfNotModified)
        except ResourceExistsError:
            return None
        except HttpResponseError as exc:
            if exc.status_code == 412:  # someone else replaced the row since we read it
                return None
            raise
        return SeenBaseline(baseline.version_hash, _doc(entity["Document"]), previous_hash, previous_doc, False,
                            now, meta["etag"])

    def mark_recorded(self, claim: SeenBaseline) -> None:
        self.table.update_entity({"PartitionKey": PARTITION, "RowKey": ROW, "Recorded": True},
                                 mode=UpdateMode.MERGE, etag=claim.etag,
                                 match_condition=MatchConditions.IfNotModified)


def note_baseline(ledger: BaselineLedger, audit: AuditSink, baseline: Baseline, *,
                  clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> bool:
    """Write `baseline-changed` if this baseline is new to the fleet and no other instance wrote it; True
    when this call wrote it. The first baseline ever seen is recorded too (diff from an empty document)."""
    now = clock()
    seen = ledger.seen()
    same = seen is not None and seen.version_hash == baseline.version_hash
    if same and seen is not None and (seen.recorded or now - seen.claimed_at < STALE_CLAIM):
        return False
    claim = ledger.claim(baseline, seen, now)
    if claim is None:
        return False
    previous = claim.previous_document
    unknown_previous = claim.previous_hash is not None and previous is None
    diff = [] if unknown_previous else diff_baselines(previous or {}, baseline)
    if claim.previous_hash is None:
        detail = "first baseline seen by redis-warden"
    elif unknown_previous:
        detail = f"baseline changed from {claim.previous_hash}; the previous document was too large to keep"
    else:
        detail = f"baseline changed from {claim.previous_hash}: {len(diff)} change(s)"
    audit.record("baseline-changed", detail=detail, diff=diff, previous_baseline=claim.previous_hash,
                 baseline_version=baseline.version_hash)
    ledger.mark_recorded(claim)
    return True
