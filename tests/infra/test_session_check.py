"""The session-wide permissions check reports what it should, from a request tap written like the
emulator's (`emulator.requestlog.TAP_ENV`)."""

from __future__ import annotations

import json
from pathlib import Path

from emulator.principals import WARDEN
from emulator.requestlog import TAP_ENV, RequestLog

from . import roles, session_check

CACHE = "/subscriptions/6f1c7e3a-2b4d-4c1e-9f3a-0d2b8e5a7c11/resourceGroups/rg/providers/Microsoft.Cache/Redis/c1"


def _entry(method: str, path: str) -> dict[str, object]:
    return {"method": method, "path": path, "status": 200, "caller": {"appid": WARDEN.client_id},
            "user_agent": "azsdk-python-mgmt-redis/14.5.0 Python/3.11", "body": None}


def test_emulator_request_logs_reach_the_tap(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv(TAP_ENV, str(tmp_path))
    RequestLog().record(_entry("GET", CACHE))
    lines = [json.loads(x) for f in tmp_path.glob("requests-*.jsonl") for x in f.read_text().splitlines()]
    assert [x["path"] for x in lines] == [CACHE]
    assert lines[0]["test"] and "test_emulator_request_logs_reach_the_tap" in lines[0]["test"]


def test_an_action_no_role_grants_fails_even_a_partial_run(tmp_path: Path) -> None:
    (tmp_path / "requests-1.jsonl").write_text(json.dumps(_entry("POST", f"{CACHE}/listKeys")) + "\n")
    found = session_check.problems(tmp_path, "subset")
    assert len(found) == 1 and "Microsoft.Cache/Redis/listKeys/action" in found[0]


def test_a_granted_action_never_used_fails_only_a_whole_run(tmp_path: Path) -> None:
    (tmp_path / "requests-1.jsonl").write_text(json.dumps(_entry("GET", CACHE)) + "\n")
    assert session_check.problems(tmp_path, "subset") == []
    unused = session_check.problems(tmp_path, "exact")
    assert len(unused) == len(roles.arm_actions()) - 1
    assert all("never needed" in line for line in unused)
