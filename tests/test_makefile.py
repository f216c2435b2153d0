"""`make` must reinstall when what a stamp stands for changes, however the files' dates fall.

CI once restored a `.venv` whose stamp was newer than a requirements file that had gained packages since,
so make skipped `pip install` and collection failed on `No module named 'azure.mgmt.network'`. Stamps are
therefore named by a hash of their inputs; these tests run `make -n` (print, do not run) on a copy of the
Makefile to show a carried-over stamp no longer passes for current.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
INPUTS = ("Makefile", "requirements.txt", "requirements-dev.txt", "package.json")


def _copy_project(tmp_path: Path) -> Path:
    for name in INPUTS:
        shutil.copy(ROOT / name, tmp_path / name)
    (tmp_path / "infra").mkdir()
    shutil.copy(ROOT / "infra" / "requirements-checkov.txt", tmp_path / "infra")
    return tmp_path


def _planned(project: Path, target: str) -> str:
    done = subprocess.run(["make", "-n", target], cwd=project, capture_output=True, text=True, check=True)
    return done.stdout


def _stamp(project: Path, directory: str) -> Path:
    """The stamp `make deps` would touch in `directory`, read off its own plan."""
    for line in _planned(project, "deps").splitlines():
        if line.startswith("touch ") and f"{directory}/.installed-" in line:
            return project / line.split()[1]
    raise AssertionError(f"make deps plans no stamp in {directory}")


def test_a_current_stamp_means_nothing_to_install(tmp_path: Path) -> None:
    project = _copy_project(tmp_path)
    for directory in (".venv", "node_modules"):
        stamp = _stamp(project, directory)
        stamp.parent.mkdir(parents=True, exist_ok=True)
        stamp.touch()
    plan = _planned(project, "deps")
    assert "pip install" not in plan
    assert "npm install" not in plan


def test_a_newer_stamp_for_other_requirements_still_installs(tmp_path: Path) -> None:
    project = _copy_project(tmp_path)
    stale = project / ".venv" / ".installed"
    stale.parent.mkdir()
    stale.touch()  # the old, undated-by-content stamp, newer than every input
    old = _stamp(project, ".venv")
    old.touch()
    with (project / "requirements.txt").open("a") as requirements:
        requirements.write("azure-mgmt-network\n")
    # The file gained a package; make its date older than the stamp, as a restored cache would have it.
    subprocess.run(["touch", "-d", "2000-01-01", str(project / "requirements.txt")], check=True)
    assert "pip install --quiet -r requirements-dev.txt" in _planned(project, "deps")
