"""`make test`'s second pass runs the tests the first pass listed (tests/conftest.py), and both passes run on
pytest-xdist workers. Each worker counts in its own process, so the list is only true if every worker's part
reaches the one file: these run the real conftest in a throw-away project on two workers and check the merged
list, the second pass's selection from it, and that an empty, stale or short list is refused."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SHAPED = "from emulator import lro_census\n\n\ndef test_{n}_shaped():\n    lro_census.note_shaped_answer()\n\n\n"
PLAIN = "def test_{n}_plain():\n    pass\n\n\n"


def _project(tmp_path: Path, crash: bool = False) -> Path:
    project = tmp_path / "project"
    project.mkdir()
    shutil.copy(ROOT / "tests" / "conftest.py", project / "conftest.py")
    (project / "pytest.ini").write_text("[pytest]\n")
    # One module per worker (--dist loadfile): the list is complete only if both workers' parts are merged.
    (project / "test_one.py").write_text(SHAPED.format(n="one_a") + PLAIN.format(n="one_b") + PLAIN.format(n="one_c"))
    crasher = "import os\n\n\ndef test_two_crash():\n    os._exit(1)\n\n\n" if crash else ""
    (project / "test_two.py").write_text(crasher + SHAPED.format(n="two_a") + SHAPED.format(n="two_b")
                                         + PLAIN.format(n="two_c"))
    return project


def _pytest(project: Path, **env: str) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("WARDEN_TEST_LRO")}
    environ.update(env, PYTHONPATH=str(ROOT))
    return subprocess.run([sys.executable, "-m", "pytest", "-n", "2", "--dist", "loadfile", "-p", "no:cacheprovider",
                           "-q", str(project)], cwd=project, env=environ, capture_output=True, text=True, timeout=120)


def _second_pass(tmp_path: Path, listed: str) -> subprocess.CompletedProcess[str]:
    """The second pass over a fresh project, selecting from a list file holding `listed`."""
    project = _project(tmp_path)
    path = tmp_path / "lro-tests"
    path.write_text(listed)
    return _pytest(project, WARDEN_TEST_LRO_ONLY=str(path))


def test_the_first_pass_merges_every_workers_tests_into_one_list(tmp_path: Path) -> None:
    project = _project(tmp_path)
    record = tmp_path / "lro-tests"
    done = _pytest(project, WARDEN_TEST_LRO_RECORD=str(record))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "6 passed" in done.stdout
    assert record.read_text().splitlines() == [
        "test_one.py::test_one_a_shaped", "test_two.py::test_two_a_shaped", "test_two.py::test_two_b_shaped"]


def test_the_second_pass_runs_exactly_the_listed_tests(tmp_path: Path) -> None:
    done = _second_pass(tmp_path, "test_one.py::test_one_a_shaped\ntest_two.py::test_two_b_shaped\n")
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.splitlines()[-1].startswith("2 passed")  # workers deselect; the controller counts none


def test_an_empty_or_missing_list_is_refused_not_run_as_nothing(tmp_path: Path) -> None:
    done = _second_pass(tmp_path, "\n")
    assert done.returncode == 4 and "lists no test" in done.stderr, done.stdout + done.stderr
    done = _pytest(tmp_path / "project", WARDEN_TEST_LRO_ONLY=str(tmp_path / "absent"))
    assert done.returncode == 4 and "run the first pass" in done.stderr, done.stdout + done.stderr


def test_a_stale_list_is_refused(tmp_path: Path) -> None:
    done = _second_pass(tmp_path, "test_one.py::test_one_a_shaped\ntest_two.py::test_renamed_since\n")
    assert done.returncode == 4, done.stdout + done.stderr
    assert "lists tests that were not collected: ['test_two.py::test_renamed_since']" in done.stdout + done.stderr
    assert "passed" not in done.stdout


def test_a_worker_that_dies_leaves_no_list_rather_than_a_short_one(tmp_path: Path) -> None:
    project = _project(tmp_path, crash=True)
    record = tmp_path / "lro-tests"
    record.write_text("test_one.py::test_one_a_shaped\n")  # left over from an earlier run
    done = _pytest(project, WARDEN_TEST_LRO_RECORD=str(record))
    assert done.returncode != 0
    assert not record.exists()
    assert "no list written" in done.stdout
