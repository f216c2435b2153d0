"""The monthly pack from a known trail: the numbers, the CSV a spreadsheet opens, the OCSF export, the CLI."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from remediators.audit.reader import FileSource
from remediators.entry.cli import main
from remediators.reporting.commands import monthly_pack
from remediators.reporting.pack import build_pack
from remediators.reporting.period import PeriodError, period

from .conftest import CLUSTER, HOSTILE, HOSTILE_APPROVER, HOSTILE_NAME, HOSTILE_OID, ORDERS, SESSIONS

NOW = datetime(2026, 12, 2, 9, 0, tzinfo=UTC)


def pack_for(trail: Path, fp: str | None = None, month: str = "11/2026", as_at: str | None = None):
    return build_pack(FileSource(trail), period(month, as_at, NOW), key_fingerprints=[fp] if fp else None, now=NOW)


def test_the_month_in_numbers(november: Path, pack_key: tuple[Path, str]) -> None:
    a = pack_for(november, pack_key[1]).assessment
    assert a.verify.ok and a.verify.pinned == (pack_key[1],) and a.verify.signed_by == (pack_key[1],)
    assert a.verify.text.startswith("OK: ")
    assert a.baselines == ("b" * 64,)
    assert len(a.days) == 30 and a.days[0].day.isoformat() == "2026-11-01"
    # the firewall finding opened in October is open every day; the cluster's from the 5th; the non-SSL port
    # drift is fixed within minutes, so it is never open at the end of a day
    assert a.days[0].open == {"critical": 1, "high": 0, "medium": 0, "low": 0}
    assert a.days[4].open["high"] == 1 and a.days[-1].open == {"critical": 1, "high": 1, "medium": 0, "low": 0}
    assert all(d.not_assessed == 1 for d in a.days)
    assert dict(a.drift_by_rule) == {"non-ssl-port": 6, "amr-tls-min-version": 1}
    actors = dict(a.drift_by_actor)
    assert actors["oid a1b2c3d4-0000-0000-0000-000000000001"] == 5 and actors[f"oid {HOSTILE_OID}"] == 1
    assert a.mttr_minutes == pytest.approx(10.0) and len(a.remediations) == 6
    assert [c.cache_id for c in a.not_assessed] == [HOSTILE]
    [exemption] = a.exemptions
    assert (exemption.expires_text, exemption.expires_uk) == ("end of 31/12/2026", "31/12/2026")
    assert exemption.days_left == 31
    retiring = {r.cache.cache_id: r.retires_uk for r in a.retirements}
    assert retiring == {ORDERS: "30/09/2028", SESSIONS: "30/09/2028", HOSTILE: "30/09/2028", CLUSTER: "31/03/2027"}
    states = {(f.cache.name, f.rule): f.state for f in a.findings}
    assert states == {("sessions", "firewall"): "open (manual-action-required)",
                      ("amr-1", "amr-tls-min-version"): "open (detected)", ("orders-cache", "access-keys"): "exempt"}


def test_as_at_a_day_counts_only_up_to_its_end(november: Path) -> None:
    a = pack_for(november, as_at="10/11/2026").assessment
    assert len(a.days) == 10 and dict(a.drift_by_rule) == {"non-ssl-port": 3, "amr-tls-min-version": 1}
    assert a.period.as_at == datetime(2026, 11, 11, 0, 0, tzinfo=UTC)  # GMT in November


def test_csv_files_hold_one_value_per_cell(november: Path) -> None:
    files = pack_for(november).files
    findings = files["findings-2026-11.csv"].decode("utf-8-sig")
    rows = list(csv.DictReader(io.StringIO(findings)))
    assert {r["cache_name"] for r in rows} == {"sessions", "amr-1", "orders-cache"}
    sessions = next(r for r in rows if r["cache_name"] == "sessions")
    assert sessions["resource_group"] == "rg-web" and sessions["region"] == "ukwest"
    assert sessions["subscription"] == "00000000-0000-0000-0000-000000000001"
    assert sessions["rule_title"] and sessions["severity"] == "critical"
    assert sessions["first_seen_uk"] == "31/10/2026" and sessions["first_seen_london_time"] == "12:00:00 GMT"
    exempt = next(r for r in rows if r["state"] == "exempt")
    assert exempt["exemption_id"] == "EX-<b>1</b>" and exempt["exemption_expires_uk"] == "31/12/2026"
    caches = list(csv.DictReader(io.StringIO(files["caches-2026-11.csv"].decode("utf-8-sig"))))
    hostile = next(r for r in caches if r["cache_id"] == HOSTILE)
    assert hostile["assessment"] == "not assessed" and hostile["open_critical"] == ""  # blank, not 0
    for text in (findings, files["caches-2026-11.csv"].decode("utf-8-sig")):
        for row in csv.reader(io.StringIO(text)):
            assert not any(cell.lstrip().startswith(("{", "[")) for cell in row), row


def test_ocsf_detection_findings(november: Path) -> None:
    items = json.loads(pack_for(november).files["findings-2026-11.ocsf.json"])
    assert len(items) == 3
    for item in items:
        assert (item["class_uid"], item["category_uid"], item["activity_id"], item["type_uid"]) == (2004, 2, 1, 200401)
        assert item["finding_info"]["uid"] and item["finding_info"]["title"]
        assert item["metadata"]["product"]["name"] == "redis-warden" and item["metadata"]["version"]
        assert item["cloud"]["provider"] == "Azure" and isinstance(item["time"], int)
    by_rule = {i["unmapped"]["rule"]: i for i in items}
    assert by_rule["firewall"]["severity_id"] == 5 and by_rule["firewall"]["status_id"] == 1
    assert by_rule["access-keys"]["status_id"] == 3  # exempt = suppressed
    assert by_rule["firewall"]["resources"][0]["region"] == "ukwest"


def test_trail_text_is_escaped_in_the_page(november: Path) -> None:
    html = pack_for(november).files["redis-warden-assessment-2026-11.html"].decode()
    for hostile in (HOSTILE_NAME, HOSTILE_OID, HOSTILE_APPROVER, "EX-<b>1</b>"):
        assert hostile not in html
    assert "&lt;img src=x onerror=alert(1)&gt;" in html and "&lt;script&gt;alert(&#39;oid&#39;)" in html
    assert "<script" not in html.lower()
    assert "default-src 'none'" in html  # and the page would not run a script even if one slipped through


def test_a_tampered_trail_says_so_first(november: Path, pack_key: tuple[Path, str]) -> None:
    lines = november.read_bytes().splitlines(keepends=True)
    lines[5] = lines[5].replace(b"uksouth", b"francecentral")
    november.write_bytes(b"".join(lines))
    pack = pack_for(november, pack_key[1])
    assert not pack.assessment.verify.ok and pack.assessment.verify.problems[0].startswith("edited: ")
    html = pack.files["redis-warden-assessment-2026-11.html"].decode()
    assert html.index("Audit verify: FAILED") < html.index("Summary as at")


def test_cli_writes_the_pack_and_prints_the_paths(november: Path, tmp_path: Path) -> None:
    out = io.StringIO()
    code = main(["report", "--out", str(tmp_path / "pack"), "--month", "11/2026", "--file", str(november)], out=out)
    paths = out.getvalue().split()
    assert code == 0 and paths[0].endswith("redis-warden-assessment-2026-11.html") and len(paths) == 4
    assert all(Path(p).is_file() and Path(p).stat().st_size for p in paths)
    assert Path(paths[0]).stat().st_mode & 0o044  # readable by the reviewer's group/others, not 0600


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"month": "2026-11"}, "MM/YYYY"),
    ({"month": "13/2026"}, "MM/YYYY"),
    ({"month": "11/2026", "as_at": "01/12/2026"}, "not in 11/2026"),
    ({"month": "11/2026", "as_at": "31/11/2026"}, "not a valid date"),
    ({"month": "01/2027"}, "has not started"),
])
def test_bad_periods_exit_2(november: Path, tmp_path: Path, kwargs: dict[str, str], message: str) -> None:
    err = io.StringIO()
    code = monthly_pack(out_dir=str(tmp_path / "p"), file=str(november), out=io.StringIO(), err=err, now=NOW,
                        **kwargs)
    assert code == 2 and message in err.getvalue() and not (tmp_path / "p").exists()


def test_unusable_sources_and_outputs_exit_2(november: Path, tmp_path: Path) -> None:
    err = io.StringIO()
    assert monthly_pack(out_dir=str(tmp_path / "p"), file=str(tmp_path / "none.jsonl"), err=err, now=NOW) == 2
    assert "no audit records" in err.getvalue()
    (tmp_path / "a-file").write_text("x")
    err = io.StringIO()
    assert monthly_pack(out_dir=str(tmp_path / "a-file"), file=str(november), err=err, now=NOW) == 2
    assert "is a file" in err.getvalue()


def test_report_needs_exactly_one_of_format_and_out(november: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["report", "--file", str(november)]) == 2
    assert "--format" in capsys.readouterr().err
    assert main(["report", "--format", "csv", "--month", "11/2026", "--file", str(november)]) == 2


def test_period_boundaries_follow_london_days() -> None:
    july = period("07/2026", None, NOW)
    assert july.start == datetime(2026, 6, 30, 23, 0, tzinfo=UTC)  # 00:00 BST on 1 July
    assert july.end == datetime(2026, 7, 31, 23, 0, tzinfo=UTC)
    running = period(None, None, NOW)
    assert running.first_day.isoformat() == "2026-12-01" and running.as_at == NOW and len(running.days()) == 2
    assert period("12/2026", "03/12/2026", NOW).as_at == NOW  # a day that has not ended is capped at now
    with pytest.raises(PeriodError):
        period("12/2026", "3/12/2026", NOW)
