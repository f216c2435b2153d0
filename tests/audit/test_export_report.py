"""export / show / report: UK dates, Europe/London times beside UTC, filters, posture per cache."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from remediators.audit import open_trail
from remediators.audit.commands import audit_export, audit_show, audit_verify, posture_report
from remediators.audit.schema import record_hash
from remediators.audit.signing import PemSigner, fingerprint

from .conftest import BASELINE, CACHE, CACHE_B, IDENTITY, Clock


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


@pytest.fixture
def dst_file(tmp_path: Path) -> Path:
    """Records around the end of BST on 25/10/2026 (clocks go back at 01:00 GMT)."""
    path = tmp_path / "audit.jsonl"
    times = iter([utc(2026, 10, 24, 22, 30), utc(2026, 10, 24, 23, 30), utc(2026, 10, 25, 0, 30),
                  utc(2026, 10, 25, 1, 30), utc(2026, 10, 26, 0, 0)])
    t = open_trail(audit_file=str(path), signing_key=None, baseline_hash=BASELINE, our_identity=IDENTITY,
                   clock=lambda: next(times))
    t.record("detected", cache_id=CACHE, rule="tls-min-version", severity="high", detail="24/10 23:30 BST")
    t.record("detected", cache_id=CACHE, rule="non-ssl-port", severity="high", detail="25/10 00:30 BST")
    t.record("remediated", cache_id=CACHE, rule="non-ssl-port", detail="=HYPERLINK(\"http://x\")")
    t.record("detected", cache_id=CACHE_B, rule="non-ssl-port", severity="high", detail="01:30 GMT")
    t.record("alert", detail="26/10 00:00 GMT")
    return path


def export(path: Path, fmt: str, **kw: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = audit_export(format=fmt, file=str(path), out=out, err=err, **kw)
    return code, out.getvalue(), err.getvalue()


def test_csv_export_of_one_uk_day_across_the_clock_change(dst_file: Path) -> None:
    code, out, _ = export(dst_file, "csv", since="25/10/2026", until="25/10/2026")
    assert code == 0
    rows = list(csv.DictReader(io.StringIO(out)))
    assert [(r["time_utc"], r["date_uk"], r["time_london"], r["zone"]) for r in rows] == [
        ("2026-10-24T23:30:00.000000Z", "25/10/2026", "00:30:00", "BST"),
        ("2026-10-25T00:30:00.000000Z", "25/10/2026", "01:30:00", "BST"),
        ("2026-10-25T01:30:00.000000Z", "25/10/2026", "01:30:00", "GMT"),
    ]
    assert rows[1]["detail"] == "'=HYPERLINK(\"http://x\")"  # not a live formula in a spreadsheet
    assert rows[0]["actor_oid"] == "" and rows[0]["cache_id"] == CACHE


def test_json_export_filters_by_cache_and_rule_and_keeps_records_checkable(dst_file: Path) -> None:
    code, out, _ = export(dst_file, "json", cache="CACHE-B")
    items = json.loads(out)
    assert code == 0 and [i["cache_id"] for i in items] == [CACHE_B]
    assert items[0]["london"] == {"date": "25/10/2026", "time": "01:30:00", "zone": "GMT"}
    record = {k: v for k, v in items[0].items() if k != "london"}
    assert record_hash(record) == record["hash"]
    _, out, _ = export(dst_file, "json", cache=CACHE.upper(), rule="non-ssl-port")
    assert [(i["kind"], i["rule"]) for i in json.loads(out)] == [
        ("detected", "non-ssl-port"), ("remediated", "non-ssl-port")
    ]
    _, out, _ = export(dst_file, "json", since="26/10/2026")
    assert [i["kind"] for i in json.loads(out)] == ["alert"]


@pytest.mark.parametrize(("args", "message"), [
    ({"since": "2026-10-25"}, "not a UK date"),
    ({"since": "31/02/2026"}, "not a valid date"),
    ({"since": "26/10/2026", "until": "25/10/2026"}, "before --since"),
])
def test_bad_dates_are_refused_with_exit_2(dst_file: Path, args: dict[str, str], message: str) -> None:
    code, out, err = export(dst_file, "csv", **args)
    assert code == 2 and out == "" and message in err


def test_show_prints_a_readable_table(dst_file: Path) -> None:
    out = io.StringIO()
    assert audit_show(file=str(dst_file), since="25/10/2026", until="25/10/2026", out=out) == 0
    lines = out.getvalue().splitlines()
    assert lines[0].split()[:3] == ["WHEN", "(LONDON)", "KIND"]
    assert "25/10/2026 01:30:00 BST  remediated" in lines[2]
    assert "25/10/2026 01:30:00 GMT  detected    rg-app/cache-b  non-ssl-port" in lines[3]
    assert lines[-1] == "3 record(s)"


def test_report_gives_posture_per_cache(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    clock = Clock(utc(2026, 6, 1, 8, 0), tick=timedelta(minutes=5))
    t = open_trail(audit_file=str(path), signing_key=None, baseline_hash=BASELINE, our_identity=IDENTITY,
                   clock=clock)
    t.record("detected", cache_id=CACHE, rule="tls-min-version", severity="high")
    t.record("remediation-started", cache_id=CACHE, rule="tls-min-version")
    t.record("remediated", cache_id=CACHE, rule="tls-min-version", request_id="req-1")
    t.record("detected", cache_id=CACHE, rule="firewall", severity="critical")
    t.record("skipped-dry-run", cache_id=CACHE, rule="firewall", dry_run_source="app-setting")
    t.record("detected", cache_id=CACHE, rule="diagnostic-logs", severity="medium")
    t.record("detected", cache_id=CACHE, rule="diagnostic-logs", finding_status="compliant")
    t.record("skipped-exempt", cache_id=CACHE, rule="access-keys", severity="medium",
             exemption={"id": "EX-12", "approver": "oid-ciso", "expires": utc(2027, 1, 1)})  # "2026-12-31"
    t.record("skipped-exempt", cache_id=CACHE, rule="entra-auth",
             exemption={"id": "EX-3", "approver": "oid-ciso", "expires": utc(2026, 5, 1, 13, 30)})
    t.record("detected", cache_id=CACHE_B, rule="non-ssl-port", severity="high")
    t.record("gone", cache_id=CACHE_B)

    out = io.StringIO()
    assert posture_report(format="json", file=str(path), out=out, now=utc(2026, 6, 2)) == 0
    report = json.loads(out.getvalue())
    a, b = report["caches"]
    assert a["cache_id"] == CACHE and a["open"] == {"critical": 1, "high": 0, "medium": 0, "low": 0}
    assert [(f["rule"], f["state"]) for f in a["open_findings"]] == [("firewall", "skipped-dry-run")]
    assert [(e["id"], e["expired"]) for e in a["exemptions"]] == [("EX-3", True), ("EX-12", False)]
    # a date-only expiry lasts to the end of its London day: shown as that day, not the next midnight
    assert a["exemptions"][1]["expires_london"] == "end of 31/12/2026"
    assert a["exemptions"][1]["expires_uk"] == "31/12/2026"
    assert a["exemptions"][0]["expires_london"] == "01/05/2026 14:30:00 BST"
    assert a["assessment"] == "assessed" and a["cache_name"] == CACHE.rsplit("/", 1)[-1]
    assert a["last_remediation"] == "2026-06-01T08:10:00.000000Z"
    assert a["last_remediation_london"] == "01/06/2026 09:10:00 BST"
    assert b["cache_id"] == CACHE_B and b["gone"] and b["open_findings"] == [] and b["assessment"] == "deleted"

    out = io.StringIO()
    assert posture_report(format="csv", file=str(path), out=out, now=utc(2026, 6, 2)) == 0
    row = next(csv.DictReader(io.StringIO(out.getvalue())))
    assert row["open_critical"] == "1" and row["open_rules"] == "firewall"
    assert row["exemptions"].startswith("EX-3 (entra-auth) expired 01/05/2026")
    assert row["next_exemption_expiry_uk"] == "31/12/2026"


def test_verify_command_takes_comma_separated_fingerprints(tmp_path: Path, signing_key: Path, other_key: Path) -> None:
    path = tmp_path / "audit.jsonl"
    t = open_trail(audit_file=str(path), signing_key=str(signing_key), baseline_hash=BASELINE, our_identity=IDENTITY)
    t.record("scan-started", scan_id="scan-1")
    t.checkpoint()
    fps = [fingerprint(PemSigner.from_file(k).public_key_der) for k in (other_key, signing_key)]
    out = io.StringIO()
    assert audit_verify(file=str(path), key_fingerprint=",".join(fps), out=out) == 0
    assert audit_verify(file=str(path), key_fingerprint=fps[0], out=io.StringIO()) == 1
    err = io.StringIO()
    assert audit_verify(out=io.StringIO(), err=err) == 2 and "--file" in err.getvalue()
