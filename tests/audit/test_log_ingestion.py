"""Audit records into the typed Log Analytics table through the real `azure-monitor-ingestion` client.

The endpoint is emulator/logs_ingestion.py: OUR EMULATION of the documented Logs Ingestion contract
(reference/monitor-ingestion, the 2023-01-01 data-plane spec). These tests prove our code drives the SDK
through that contract and survives an outage; they are not evidence of how the service answers beyond it.
"""

from __future__ import annotations

import gzip
import json
import logging
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from azure.core.exceptions import HttpResponseError
from azure.monitor.ingestion import LogsIngestionClient

from emulator.logs_ingestion import TOKEN, LogsIngestionEndpoint
from emulator.testing import StaticTokenCredential
from remediators.audit import open_trail
from remediators.audit.log_ingestion import COLUMN_TYPES, COLUMNS, STREAM, TABLE, LogsIngestionHandler, Uploader, ingest
from remediators.audit.log_ingestion import row as table_row
from remediators.audit.reader import FileSource, load_records
from tests.infra import bicep

from .conftest import BASELINE, CACHE, IDENTITY, Clock

RULE_ID = "dcr-00000000000000000000000000000001"
AUDIT_LOGGER = logging.getLogger("redis_warden.audit")


@pytest.fixture
def endpoint() -> Iterator[LogsIngestionEndpoint]:
    with LogsIngestionEndpoint(RULE_ID, {STREAM: COLUMN_TYPES}) as ep:
        yield ep


def client(ep: LogsIngestionEndpoint, token: str = TOKEN) -> LogsIngestionClient:
    return LogsIngestionClient(endpoint=ep.url, credential=StaticTokenCredential(token),
                               connection_verify=str(ep.ca_bundle), retry_total=0)


@pytest.fixture
def handler_for(endpoint: LogsIngestionEndpoint) -> Iterator[Any]:
    installed: list[logging.Handler] = []
    level = AUDIT_LOGGER.level

    def make(token: str = TOKEN, **kw: Any) -> LogsIngestionHandler:
        handler = LogsIngestionHandler(Uploader(client(endpoint, token), RULE_ID), **kw)
        AUDIT_LOGGER.addHandler(handler)
        AUDIT_LOGGER.setLevel(logging.INFO)
        installed.append(handler)
        return handler

    yield make
    for h in installed:
        AUDIT_LOGGER.removeHandler(h)
    AUDIT_LOGGER.setLevel(level)


def trail(path: Path):
    return open_trail(audit_file=str(path), signing_key=None, baseline_hash=BASELINE, our_identity=IDENTITY,
                      clock=Clock(datetime(2026, 11, 3, 10, tzinfo=UTC), tick=timedelta(minutes=1)))


def test_rows_are_typed_and_absent_fields_stay_absent() -> None:
    record = {"v": 1, "chain": "w1", "seq": 7, "time": "2026-11-03T10:00:00.000000Z", "writer": "w1",
              "kind": "skipped-exempt", "cache_id": CACHE, "rule": "non-ssl-port", "severity": "high",
              "exemption": {"id": "EX-1", "expires": "2027-01-01T00:00:00+00:00", "approver": "<script>"},
              "trigger": {"event_id": "e1", "correlation_id": "c1"}, "drift_actor": {"oid": "o1"},
              "outcome": {"code": 409, "message": "busy"}, "prev_hash": "0" * 64, "hash": "a" * 64,
              "baseline": BASELINE}
    row = table_row(record)
    assert row["TimeGenerated"] == "2026-11-03T10:00:00.000000Z" and row["Seq"] == 7
    assert row["ExemptionExpires"] == "2027-01-01T00:00:00.000000Z"
    assert (row["CacheName"], row["ResourceGroup"]) == ("cache-a", "rg-app")
    assert row["SubscriptionId"] == "00000000-0000-0000-0000-000000000001"
    assert row["OutcomeCode"] == "409" and row["DriftActorOid"] == "o1" and row["CorrelationId"] == "c1"
    assert row["Record"] == record  # the whole record as dynamic: hashes can be recomputed from the table
    assert "FindingStatus" not in row and "RequestId" not in row
    assert set(row) <= set(COLUMN_TYPES)


def test_the_code_the_dcr_and_the_table_declare_the_same_columns() -> None:
    doc = bicep.parsed("modules/audit-logs.bicep")
    declared = [(c["name"], c["type"]) for c in doc["variables"]["auditColumns"]["value"]]
    assert tuple(declared) == COLUMNS
    text = (bicep.INFRA / "modules" / "audit-logs.bicep").read_text()
    assert f"'{TABLE}'" in text and f"'{STREAM}'" in text and f"'Custom-{TABLE}'" in text


def test_records_reach_the_table_through_the_sdk(tmp_path: Path, endpoint: LogsIngestionEndpoint,
                                                 handler_for: Any) -> None:
    handler = handler_for(capacity=3)
    t = trail(tmp_path / "audit.jsonl")
    t.record("detected", cache_id=CACHE, rule="tls-min-version", severity="high", finding_status="non_compliant")
    t.record("remediation-started", cache_id=CACHE, rule="tls-min-version")
    assert endpoint.rows == {}  # batched: nothing sent before the third record
    t.record("remediated", cache_id=CACHE, rule="tls-min-version", request_id="req-1")
    t.record("scan-finished", scan_id="s1")
    handler.flush()
    rows = endpoint.rows[STREAM]
    assert [r["Kind"] for r in rows] == ["detected", "remediation-started", "remediated", "scan-finished"]
    assert [r["Seq"] for r in rows] == [0, 1, 2, 3] and rows[2]["RequestId"] == "req-1"
    stored = load_records(FileSource(tmp_path / "audit.jsonl"))
    assert [r["Hash"] for r in rows] == [r["hash"] for r in stored]
    first = endpoint.requests[0]
    assert first["path"] == f"/dataCollectionRules/{RULE_ID}/streams/{STREAM}"
    assert first["query"] == "api-version=2023-01-01"
    assert first["headers"]["Content-Encoding"] == "gzip"


def test_an_outage_keeps_the_rows_and_never_fails_the_record(tmp_path: Path, endpoint: LogsIngestionEndpoint,
                                                             handler_for: Any, caplog: pytest.LogCaptureFixture
                                                             ) -> None:
    handler = handler_for(capacity=1)
    endpoint.fail_next = [503]
    t = trail(tmp_path / "audit.jsonl")
    with caplog.at_level(logging.WARNING, logger="redis_warden.log_ingestion"):
        t.record("detected", cache_id=CACHE, rule="firewall", severity="critical")  # returns: stored in the trail
    assert handler.failures == 1 and handler.pending == 1 and STREAM not in endpoint.rows
    assert "kept for the next try" in caplog.text
    t.record("remediated", cache_id=CACHE, rule="firewall")  # the next flush sends both, in order
    assert [r["Kind"] for r in endpoint.rows[STREAM]] == ["detected", "remediated"] and handler.pending == 0


def test_a_bounded_buffer_counts_what_it_drops(tmp_path: Path, handler_for: Any,
                                               caplog: pytest.LogCaptureFixture) -> None:
    handler = handler_for(token="wrong", capacity=1, max_buffer=2)  # every upload is refused (401)
    t = trail(tmp_path / "audit.jsonl")
    with caplog.at_level(logging.WARNING, logger="redis_warden.log_ingestion"):
        for i in range(4):
            t.record("alert", detail=f"n{i}")
    assert handler.pending == 2 and handler.dropped == 2
    assert "audit ingest" in caplog.text
    assert len(load_records(FileSource(tmp_path / "audit.jsonl"))) == 4  # the trail lost nothing


def test_backfill_sends_stored_records_and_fails_loudly(tmp_path: Path, endpoint: LogsIngestionEndpoint) -> None:
    t = trail(tmp_path / "audit.jsonl")
    for i in range(5):
        t.record("alert", detail=f"n{i}")
    records = load_records(FileSource(tmp_path / "audit.jsonl"))
    assert ingest(Uploader(client(endpoint), RULE_ID), records, batch=2) == 5
    assert len(endpoint.rows[STREAM]) == 5 and len(endpoint.requests) == 3
    with pytest.raises(HttpResponseError):
        ingest(Uploader(client(endpoint), "dcr-unknown"), records)


def test_the_emulated_endpoint_refuses_a_row_of_the_wrong_type(endpoint: LogsIngestionEndpoint) -> None:
    """The emulator is strict, so a row whose types drift from the table fails here instead of in Azure."""
    with pytest.raises(HttpResponseError) as info:
        Uploader(client(endpoint), RULE_ID)([{"TimeGenerated": "not a time", "Seq": "7"}])
    assert "InvalidColumnType" in str(info.value)
    body = gzip.compress(json.dumps([{"Kind": "x"}]).encode())
    assert body[:2] == b"\x1f\x8b"
