"""docs/deploy.md section 6, followed literally on the emulator: the app settings a deployment has (the
shipped baseline, no WARDEN_BASELINE) plus the one switch the doc names, and a fix is applied."""

from __future__ import annotations

import re
from pathlib import Path

import requests

from emulator.testing import sample_cache

from .stack import running_stack

DOC = (Path(__file__).resolve().parents[2] / "docs" / "deploy.md").read_text(encoding="utf-8")
SUB = "6f1c7e3a-2b4d-4c1e-9f3a-0d2b8e5a7c11"


def _switch_from_the_doc() -> dict[str, str]:
    """The app settings section 6 sets (`azd env set NAME VALUE`, which main.parameters.json carries into
    the Function App's setting of the same name)."""
    section = DOC.split("## 6. Switching to remediate", 1)[1].split("\n## ", 1)[0]
    found = dict(re.findall(r"^azd env set (WARDEN_[A-Z_]+) (\S+)$", section, re.MULTILINE))
    assert found, "section 6 no longer says which setting to change"
    return found


def test_following_switching_to_remediate_applies_a_fix(tmp_path: Path) -> None:
    switch = _switch_from_the_doc()
    assert switch == {"WARDEN_DRY_RUN": "false"}
    fleet = [sample_cache("open-cache", properties={"enableNonSslPort": True})]
    with running_stack(tmp_path, fleet, settings={"WARDEN_BASELINE": None, **switch}) as stack:
        reply = requests.post(f"{stack.host.http_base_url}/api/scans", json={"scope": f"/subscriptions/{SUB}"},
                              headers={"x-functions-key": stack.host.function_key}, timeout=30)
        assert reply.status_code == 202, reply.text
        assert reply.json()["dryRun"] is False and reply.json()["dryRunSources"] == []
        stack.settle()
        assert stack.cache("open-cache")["properties"]["enableNonSslPort"] is False
        fixed = [r for r in stack.records() if r["kind"] == "remediated" and r.get("rule") == "non-ssl-port"]
        assert fixed, stack.kinds("open-cache")
        assert "skipped-dry-run" not in stack.kinds("open-cache")


def test_before_the_switch_the_app_setting_alone_keeps_it_dry(tmp_path: Path) -> None:
    fleet = [sample_cache("open-cache", properties={"enableNonSslPort": True})]
    with running_stack(tmp_path, fleet, settings={"WARDEN_BASELINE": None, "WARDEN_DRY_RUN": "true"}) as stack:
        reply = requests.post(f"{stack.host.http_base_url}/api/scans", json={"scope": f"/subscriptions/{SUB}"},
                              headers={"x-functions-key": stack.host.function_key}, timeout=30)
        assert reply.json()["dryRunSources"] == ["app-setting:WARDEN_DRY_RUN"]
        stack.settle()
        progress = requests.get(f"{stack.host.http_base_url}/api/scans/{reply.json()['scanId']}",
                                headers={"x-functions-key": stack.host.function_key}, timeout=30).json()
        assert progress["dryRun"] is True and progress["dryRunSources"] == ["app-setting:WARDEN_DRY_RUN"]
        assert stack.cache("open-cache")["properties"]["enableNonSslPort"] is True
        [skipped] = [r for r in stack.records() if r["kind"] == "skipped-dry-run"]
        assert skipped["dry_run_source"] == "app-setting:WARDEN_DRY_RUN"
