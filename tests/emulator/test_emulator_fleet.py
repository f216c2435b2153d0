"""Fleet files are validated with the published schema; the CLI prints its ready line and serves."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import requests

from emulator.fleet import SCHEMA_PATH, FleetError, load_fleet
from emulator.principals import WARDEN
from emulator.testing import cache_id, sample_cache

ROOT = Path(__file__).resolve().parents[2]


def test_schema_is_a_valid_json_schema() -> None:
    jsonschema.Draft202012Validator.check_schema(json.loads(SCHEMA_PATH.read_text()))


def test_sample_fleet_loads() -> None:
    seeds = load_fleet([sample_cache("c1", firewall_rules=[("office", "10.0.0.1", "10.0.0.9")],
                                     knobs={"busyForGets": 1, "lroPolls": 3})])
    assert seeds[0].name == "c1" and seeds[0].knobs == {"busyForGets": 1, "lroPolls": 3}
    assert "firewallRules" not in seeds[0].body and "x-emulator" not in seeds[0].body


@pytest.mark.parametrize(
    ("mutate", "needle"),
    [
        (lambda e: e.update(firewallrules=[]), "'firewallrules' was unexpected"),
        (lambda e: e.update({"x-emulator": {"busyForGet": 1}}), "'busyForGet' was unexpected"),
        (lambda e: e["properties"].pop("sku"), "'sku' is a required property"),
        (lambda e: e.update(name="other"), "does not match the id"),
        (lambda e: e.update(id=cache_id("c1").replace("Redis", "redisEnterprise")), "not a Microsoft.Cache/Redis"),
        (lambda e: e.update(firewallRules=[{"name": "bad", "properties": {"startIP": "10.0.0.9",
                                                                          "endIP": "10.0.0.1"}}]), "after endIP"),
        (lambda e: e.update(firewallRules=[{"name": "bad", "properties": {"startIP": "x", "endIP": "10.0.0.1"}}]),
         "not an IPv4"),
        (lambda e: e.update({"x-emulator": {"faults": [{"status": 200}]}}), "200 is less than the minimum"),
    ],
)
def test_invalid_fleets_are_refused_with_a_clear_message(mutate: Any, needle: str) -> None:
    entry = sample_cache("c1")
    mutate(entry)
    with pytest.raises(FleetError, match=None) as info:
        load_fleet([entry])
    assert needle in str(info.value)


def test_duplicate_caches_are_refused() -> None:
    with pytest.raises(FleetError, match="duplicate"):
        load_fleet([sample_cache("c1"), sample_cache("C1")])


def test_cli_prints_ready_line_and_serves(tmp_path: Path) -> None:
    fleet = tmp_path / "fleet.json"
    fleet.write_text(json.dumps([sample_cache("c1")]))
    log = tmp_path / "requests.jsonl"
    proc = subprocess.Popen(
        [sys.executable, "-m", "emulator", "--fleet", str(fleet), "--request-log", str(log),
         "--ca-dir", str(tmp_path / "ca"), "--lro-shape", "recorded"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    try:
        assert proc.stdout is not None
        ready = json.loads(proc.stdout.readline())
        assert set(ready) == {"arm_endpoint", "ca_bundle", "identity_endpoint", "identity_header"}
        token = requests.get(ready["identity_endpoint"], verify=ready["ca_bundle"], timeout=10,
                             params={"api-version": "2019-08-01", "resource": "https://management.azure.com"},
                             headers={"X-IDENTITY-HEADER": ready["identity_header"]}).json()["access_token"]
        resp = requests.get(f"{ready['arm_endpoint']}{cache_id('c1')}", params={"api-version": "2024-11-01"},
                            headers={"Authorization": f"Bearer {token}"}, verify=ready["ca_bundle"], timeout=10)
        assert resp.status_code == 200 and resp.json()["name"] == "c1"
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
    entries = [json.loads(line) for line in log.read_text().splitlines()]
    assert [e["path"] for e in entries] == ["/msi/token", cache_id("c1")]
    assert entries[1]["caller"]["oid"] == WARDEN.object_id


def test_cli_refuses_an_invalid_fleet(tmp_path: Path) -> None:
    fleet = tmp_path / "fleet.json"
    fleet.write_text(json.dumps([{**sample_cache("c1"), "colour": "red"}]))
    result = subprocess.run([sys.executable, "-m", "emulator", "--fleet", str(fleet)], cwd=ROOT, capture_output=True,
                            text=True, timeout=30, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert result.returncode == 2 and "'colour' was unexpected" in result.stderr and result.stdout == ""
