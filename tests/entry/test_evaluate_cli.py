"""`evaluate --database` (Azure Managed Redis) and `--nsg` (VNet-injected caches), run as a person runs them:
the real CLI in a subprocess, right and wrong input, the message read."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from emulator.spec import REFERENCE_ROOT

SUB = "11111111-2222-3333-4444-555555555555"
AMR = f"/subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.Cache/redisEnterprise/amr1"
ACR = f"/subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.Cache/Redis/premium1"
ROOT = Path(__file__).resolve().parents[2]


def run(tmp: Path, *args: str, **files: Any) -> subprocess.CompletedProcess[str]:
    argv = [sys.executable, "-m", "remediators", "evaluate"]
    for name, body in files.items():
        path = tmp / f"{name}.json"
        path.write_text(body if isinstance(body, str) else json.dumps(body))
    for arg in args:
        argv.append(str(tmp / arg) if arg.endswith(".json") else arg)
    return subprocess.run(argv, capture_output=True, text=True, cwd=ROOT, timeout=60, check=False)


def statuses(proc: subprocess.CompletedProcess[str]) -> dict[str, str]:
    assert proc.returncode == 0, proc.stderr
    return {f["rule"]: f["status"] for f in json.loads(proc.stdout)["findings"]}


CLUSTER = {"id": AMR, "name": "amr1", "type": "Microsoft.Cache/redisEnterprise", "location": "uksouth",
           "sku": {"name": "Balanced_B1"}, "properties": {"minimumTlsVersion": "1.2", "provisioningState": "Succeeded"}}
DB = {"id": AMR + "/databases/default", "name": "default",
      "properties": {"clientProtocol": "Plaintext", "accessKeysAuthentication": "Enabled", "port": 10000}}


def test_databases_turn_unknown_managed_redis_findings_into_real_ones(tmp_path: Path) -> None:
    without = statuses(run(tmp_path, "--resource", "c.json", c=CLUSTER))
    assert without["amr-client-protocol"] == "unknown" and without["amr-access-keys"] == "unknown"
    listed = statuses(run(tmp_path, "--resource", "c.json", "--database", "d.json", c=CLUSTER, d={"value": [DB]}))
    assert listed["amr-client-protocol"] == "non_compliant" and listed["amr-access-keys"] == "non_compliant"
    single = statuses(run(tmp_path, "--resource", "c.json", "--database", "d.json", c=CLUSTER, d=DB))
    assert single == listed


def test_wrong_database_input_is_a_clear_error(tmp_path: Path) -> None:
    other = dict(DB, id=AMR.replace("amr1", "amr2") + "/databases/default")
    proc = run(tmp_path, "--resource", "c.json", "--database", "d.json", c=CLUSTER, d=other)
    assert proc.returncode == 2 and "is not a database of" in proc.stderr and "Traceback" not in proc.stderr
    proc = run(tmp_path, "--resource", "c.json", "--database", "d.json", c=CLUSTER, d="{not json")
    assert proc.returncode == 2 and "--database" in proc.stderr and "not valid JSON" in proc.stderr
    acr = {"id": ACR, "name": "premium1", "properties": {}}
    proc = run(tmp_path, "--resource", "c.json", "--database", "d.json", c=acr, d=DB)
    assert proc.returncode == 2 and "only an Azure Managed Redis cluster" in proc.stderr


def test_nsg_body_evaluates_the_nsg_rule(tmp_path: Path) -> None:
    subnet = f"/subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.Network/virtualNetworks/v/subnets/s"
    cache = {"id": ACR, "name": "premium1", "location": "uksouth",
             "properties": {"subnetId": subnet, "sku": {"name": "Premium", "family": "P", "capacity": 1}}}
    nsg = json.loads((REFERENCE_ROOT / "recordings" / "network" / "nsg-get.json").read_text())
    assert statuses(run(tmp_path, "--resource", "c.json", c=cache))["nsg"] == "unknown"
    assert statuses(run(tmp_path, "--resource", "c.json", "--nsg", "n.json", c=cache, n=nsg))["nsg"] == "compliant"
    nsg["properties"]["securityRules"] = [{"name": "open", "properties": {
        "protocol": "*", "destinationPortRange": "*", "sourceAddressPrefix": "*", "access": "Allow",
        "priority": 100, "direction": "Inbound"}}]
    assert statuses(run(tmp_path, "--resource", "c.json", "--nsg", "n.json", c=cache, n=nsg))["nsg"] == "non_compliant"
    proc = run(tmp_path, "--resource", "c.json", "--nsg", "n.json", c=cache, n=[1, 2])
    assert proc.returncode == 2 and "nsg: expected" in proc.stderr
