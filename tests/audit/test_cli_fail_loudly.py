"""The CLI run as a person runs it, with wrong input: one clear line, a non-zero exit, never a traceback and
never "OK" over nothing. Each test runs `python -m remediators` in a child process and reads what it says."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from remediators.audit import open_trail
from remediators.entry.cli import EXIT_BROKEN_PIPE, build_parser

from .conftest import BASELINE, CACHE, IDENTITY, Clock

ROOT = Path(__file__).resolve().parents[2]


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("WARDEN_", "AzureWebJobs"))}
    return subprocess.run([sys.executable, "-m", "remediators", *args], cwd=ROOT, capture_output=True, text=True,
                          env={**clean, **(env or {})}, timeout=120, check=False)


def trail_with(path: Path, records: int) -> Path:
    t = open_trail(audit_file=str(path), signing_key=None, baseline_hash=BASELINE, our_identity=IDENTITY,
                   clock=Clock(datetime(2026, 6, 1, tzinfo=UTC), tick=timedelta(seconds=1)))
    for i in range(records):
        t.record("detected", cache_id=CACHE, rule="non-ssl-port", severity="high", detail=f"record {i} " + "x" * 200)
    t.close()
    return path


COMMANDS = [
    ("audit", "verify"),
    ("audit", "export", "--format", "csv"),
    ("audit", "show"),
    ("report", "--format", "json"),
]


@pytest.mark.parametrize("command", COMMANDS, ids=[" ".join(c[:2]) for c in COMMANDS])
@pytest.mark.parametrize("where", ["missing", "empty", "directory", "under-a-file"])
def test_an_unusable_trail_exits_2_with_one_line_and_no_output(tmp_path: Path, command: tuple[str, ...],
                                                               where: str) -> None:
    path = {
        "missing": tmp_path / "no" / "such.jsonl",
        "empty": tmp_path / "empty.jsonl",
        "directory": tmp_path,
        "under-a-file": tmp_path / "empty.jsonl" / "audit.jsonl",
    }[where]
    (tmp_path / "empty.jsonl").write_bytes(b"")
    done = run(*command, "--file", str(path))
    assert done.returncode == 2, (done.stdout, done.stderr)
    assert done.stdout == ""  # no header, no "OK: 0 records"
    assert "Traceback" not in done.stderr
    assert done.stderr.startswith("error: ") and len(done.stderr.strip().splitlines()) == 1
    expected = {"missing": "no audit records", "empty": "no audit records", "directory": "is a directory",
                "under-a-file": "cannot read"}[where]
    assert expected in done.stderr


def test_the_app_setting_trail_is_checked_the_same_way(tmp_path: Path) -> None:
    done = run("audit", "verify", env={"WARDEN_AUDIT_FILE": str(tmp_path / "nope.jsonl")})
    assert done.returncode == 2 and "no audit records" in done.stderr


def test_a_reader_that_goes_away_ends_quietly(tmp_path: Path) -> None:
    """`audit export ... | head -1`: the pipe closes early; the CLI stops without a traceback."""
    path = trail_with(tmp_path / "audit.jsonl", 600)  # well past a 64 KiB pipe buffer
    proc = subprocess.Popen([sys.executable, "-m", "remediators", "audit", "export", "--format", "csv", "--file",
                             str(path)], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout is not None and proc.stderr is not None
    first = proc.stdout.readline()
    proc.stdout.close()
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=120) == EXIT_BROKEN_PIPE
    assert first.startswith(b"time_utc,")
    assert err == ""


def test_a_readable_trail_still_works(tmp_path: Path) -> None:
    path = trail_with(tmp_path / "audit.jsonl", 3)
    done = run("audit", "verify", "--file", str(path))
    assert done.returncode == 0 and "OK: 3 records" in done.stdout


def _walk(parser: argparse.ArgumentParser, name: str):
    for action in parser._actions:  # argparse has no public walk; this is a test of our own parser only
        if isinstance(action, argparse._SubParsersAction):
            helps = {a.dest: a.help for a in action._choices_actions}
            for sub_name, sub in action.choices.items():
                yield f"{name} {sub_name}", helps.get(sub_name), sub.description
                yield from _walk(sub, f"{name} {sub_name}")
        elif not isinstance(action, argparse._HelpAction):
            yield f"{name} {'/'.join(action.option_strings) or action.dest}", action.help, "option"


def test_every_subcommand_and_option_has_help_text() -> None:
    missing = [what for what, help_text, description in _walk(build_parser(), "remediators")
               if not help_text or not description]
    assert missing == []


def test_subcommand_help_describes_the_command() -> None:
    done = run("audit", "verify", "--help")
    assert done.returncode == 0 and "check chains and signed checkpoints" in done.stdout
    assert "--key-fingerprint" in done.stdout and "pinned SHA-256" in done.stdout


def test_evaluate_refuses_a_baseline_holding_an_expired_exemption(tmp_path: Path) -> None:
    baseline = json.loads((ROOT / "remediators" / "default_baseline.json").read_text())
    baseline["exemptions"] = [{"id": "EX-OLD", "rule": "non-ssl-port", "scope": CACHE, "expires": "31/12/2025",
                               "justification": "legacy client", "approver": "cab@example.org"}]
    (tmp_path / "b.json").write_text(json.dumps(baseline))
    (tmp_path / "cache.json").write_text(json.dumps({"id": CACHE, "name": "cache-a", "location": "uksouth",
                                                     "type": "Microsoft.Cache/Redis", "properties": {}}))
    done = run("evaluate", "--resource", str(tmp_path / "cache.json"), "--baseline", str(tmp_path / "b.json"))
    assert done.returncode == 2 and done.stdout == ""
    assert "EX-OLD" in done.stderr and "expired at the end of 31/12/2025" in done.stderr
    assert "Traceback" not in done.stderr
