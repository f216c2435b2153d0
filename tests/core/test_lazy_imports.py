"""Cold start (issue 13): importing the Functions app loads no SDK that only some paths need. Each of these is
imported where it is used (a VNet NSG read, policy states, Azure Managed Redis, key-expiry sampling, the monthly
pack); the time itself is shown by `python -m bench.cold_start`, never asserted here."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LOADED_ON_USE = ("azure.mgmt.network", "azure.mgmt.policyinsights", "azure.mgmt.redisenterprise", "redis",
                 "redis_entraid", "jinja2", "remediators.reporting.publish", "remediators.dataplane.client")


def _modules_after(code: str) -> set[str]:
    out = subprocess.run([sys.executable, "-c", f"{code}\nimport json, sys\nprint(json.dumps(sorted(sys.modules)))"],
                         cwd=ROOT, capture_output=True, text=True, timeout=120, check=True)
    return set(json.loads(out.stdout.strip().splitlines()[-1]))


def test_importing_the_app_loads_none_of_the_sdks_only_some_paths_need() -> None:
    loaded = _modules_after("import function_app")
    assert "remediators.entry.triggers" in loaded
    assert sorted(m for m in LOADED_ON_USE if m in loaded) == []


def test_the_check_sees_a_module_that_is_loaded() -> None:
    """The check above can fail: the same probe finds these modules once their paths run."""
    loaded = _modules_after("import function_app\nimport remediators.dataplane.client\n"
                            "import remediators.reporting.publish\nimport azure.mgmt.network")
    assert {"redis", "jinja2", "azure.mgmt.network"} <= loaded
