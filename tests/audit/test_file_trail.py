"""The file sink end to end: one linear chain per file, whoever writes, and everything verifies."""

from __future__ import annotations

import io
import json
import logging
import threading
from datetime import timedelta
from pathlib import Path

import pytest

from remediators.audit import GENESIS, AuditTrail, RecordError, open_trail
from remediators.audit.reader import FileSource
from remediators.audit.verify import run_verify

from .conftest import BASELINE, CACHE, IDENTITY, Clock


def trail(
    path: Path, clock: Clock | None = None, signing_key: Path | None = None, writer: str | None = None
) -> AuditTrail:
    return open_trail(audit_file=str(path), signing_key=str(signing_key) if signing_key else None,
                      writer_id=writer, baseline_hash=BASELINE, our_identity=IDENTITY, clock=clock)


def stored(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_bytes().splitlines()]


def verify_out(path: Path, fingerprints: list[str] | None = None) -> tuple[int, str]:
    out = io.StringIO()
    code = run_verify(FileSource(path), fingerprints, out)
    return code, out.getvalue()


def test_records_form_a_hash_chain_and_come_back_as_written(tmp_path: Path, clock: Clock) -> None:
    path = tmp_path / "audit.jsonl"
    t = trail(path, clock, writer="cli-1")
    first = t.record("remediation-started", cache_id=CACHE, rule="non-ssl-port", severity="high",
                     before={"enableNonSslPort": True}, after={"enableNonSslPort": False},
                     trigger={"event_id": "ev-1", "event_type": "Microsoft.Resources.ResourceWriteSuccess",
                              "correlation_id": "corr-1", "actor": {"oid": "o-bob", "upn": "bob@contoso.com"}})
    second = t.record("remediated", cache_id=CACHE, rule="non-ssl-port", request_id="arm-req-1",
                      outcome={"code": "OK", "status": 200})
    with pytest.raises(TypeError):
        first["seq"] = 7  # type: ignore[index]
    assert [r["seq"] for r in stored(path)] == [0, 1]
    assert stored(path) == [dict(first), dict(second)]
    assert first["prev_hash"] == GENESIS and second["prev_hash"] == first["hash"]
    assert first["chain"] == second["chain"] == "cli-1"
    assert first["trigger"]["actor"] == {"oid": "o-bob"}
    assert second["request_id"] == "arm-req-1" and second["outcome"]["code"] == "OK"
    assert verify_out(path)[0] == 0


def test_a_refused_record_writes_nothing(tmp_path: Path, clock: Clock) -> None:
    path = tmp_path / "audit.jsonl"
    t = trail(path, clock)
    t.record("alert", detail="breaker tripped")
    with pytest.raises(RecordError):
        t.record("skipped-dry-run", cache_id=CACHE)
    assert len(stored(path)) == 1
    assert t.record("alert", detail="again")["seq"] == 1


def test_successive_and_concurrent_processes_share_one_linear_chain(tmp_path: Path, clock: Clock) -> None:
    path = tmp_path / "audit.jsonl"
    a, b = trail(path, clock, writer="cli-a"), trail(path, clock, writer="cli-b")
    for n in range(3):
        a.record("alert", detail=f"a{n}")
        b.record("alert", detail=f"b{n}")
    records = stored(path)
    assert [r["seq"] for r in records] == list(range(6))
    assert {r["chain"] for r in records} == {"cli-a"}  # the file's chain, fixed by its first record
    assert [r["writer"] for r in records] == ["cli-a", "cli-b"] * 3
    assert verify_out(path)[0] == 0


def test_threads_in_one_process_never_fork_the_chain(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    t = trail(path)

    def work(n: int) -> None:
        for i in range(25):
            t.record("alert", detail=f"{n}-{i}")

    threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    records = stored(path)
    assert [r["seq"] for r in records] == list(range(200))
    assert sorted(r["detail"] for r in records) == sorted(f"{n}-{i}" for n in range(8) for i in range(25))
    assert verify_out(path)[0] == 0


def test_a_clock_that_goes_back_does_not_make_time_go_back(tmp_path: Path, clock: Clock) -> None:
    path = tmp_path / "audit.jsonl"
    t = trail(path, clock)
    t.record("alert", detail="one")
    clock.now -= timedelta(minutes=10)
    t.record("alert", detail="two")
    times = [r["time"] for r in stored(path)]
    assert times[1] == times[0]
    assert verify_out(path)[0] == 0


def test_each_record_is_logged_as_structured_data(
    tmp_path: Path, clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    t = trail(tmp_path / "audit.jsonl", clock)
    with caplog.at_level(logging.INFO, logger="redis_warden.audit"):
        rec = t.record("detected", cache_id=CACHE, rule="tls-min-version", severity="high",
                       trigger={"event_id": "ev-1", "correlation_id": "corr-42"})
    [log] = [r for r in caplog.records if r.name == "redis_warden.audit"]
    assert log.audit_record == dict(rec)  # type: ignore[attr-defined]
    assert log.correlation_id == "corr-42"  # type: ignore[attr-defined]
    message = log.getMessage()
    assert message.startswith("audit-record ")
    assert json.loads(message[len("audit-record "):]) == dict(rec)


def test_checkpoint_if_due_waits_for_the_interval(tmp_path: Path, clock: Clock, signing_key: Path) -> None:
    path = tmp_path / "audit.jsonl"
    t = trail(path, clock, signing_key)
    assert t.checkpoint_if_due() is None  # nothing written yet
    t.record("alert", detail="x")
    assert t.checkpoint_if_due() is None  # written seconds ago
    clock.now += timedelta(hours=1)
    doc = t.checkpoint_if_due()
    assert doc is not None and doc["payload"]["chains"][0]["seq"] == 0
    assert t.checkpoint_if_due() is None  # covered now
    assert trail(path, clock).checkpoint() is None  # no key, no checkpoint


def test_records_stored_together_are_one_write_that_continues_the_chain(
        tmp_path: Path, clock: Clock, monkeypatch: pytest.MonkeyPatch) -> None:
    """One write and one fsync for a batch; another writer of the same file in between is chained after it."""
    import os as os_module

    from remediators.audit import file_sink

    path = tmp_path / "audit.jsonl"
    t, other = trail(path, clock, writer="cli-1"), trail(path, clock, writer="cli-2")
    t.record("alert", detail="first")
    writes: list[int] = []
    real_write = os_module.write
    monkeypatch.setattr(file_sink.os, "write", lambda fd, data: writes.append(len(data)) or real_write(fd, data))
    with t.together() as batch:
        batch.record("detected", cache_id=CACHE, rule="tls-min-version", severity="high", detail="a")
        batch.record("evaluated", cache_id=CACHE, statuses={"tls-min-version": "non-compliant"})
    assert len(writes) == 1
    other.record("alert", detail="from the other writer")
    records = stored(path)
    assert [r["kind"] for r in records] == ["alert", "detected", "evaluated", "alert"]
    assert [r["seq"] for r in records] == [0, 1, 2, 3]
    assert verify_out(path)[0] == 0
