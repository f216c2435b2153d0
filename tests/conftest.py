"""Session-wide services and the LRO-shape selection.

Azurite is started once for the whole test run and stopped at the end.

`make test` runs the suite with the LRO shape recorded from real traffic, then again with the spec's other
shape (`WARDEN_TEST_LRO_SHAPE=updating`). The second pass need only repeat the tests during which the
emulator answered a write with an operation (`emulator.lro_census`): the first pass writes their node ids
to the file `WARDEN_TEST_LRO_RECORD` names, and the second runs exactly those listed in
`WARDEN_TEST_LRO_ONLY`. A missing or empty list is an error, never "run nothing" or "run everything".

`make test` runs both passes on pytest-xdist workers (`-n`), each a process with its own count and its own
Azurite. Each worker hands the tests it saw answered with an operation to the controller at its end
(`workeroutput`); the controller merges them and writes the one list. A worker that went down before it
handed its part over would leave the list short, so then no list is written and the second pass refuses to
start.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from devhost.azurite import Azurite, start_azurite
from emulator import lro_census

RECORD_ENV = "WARDEN_TEST_LRO_RECORD"
ONLY_ENV = "WARDEN_TEST_LRO_ONLY"
_shaped: list[str] = []
_WORKER_KEY = "warden_lro_shaped"


@pytest.fixture(scope="session")
def azurite(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Azurite]:
    log = tmp_path_factory.mktemp("azurite") / "azurite.log"
    with start_azurite(log_path=log) as az:
        yield az


def _listed(path: str) -> set[str]:
    try:
        ids = {line.strip() for line in Path(path).read_text().splitlines() if line.strip()}
    except OSError as exc:
        raise pytest.UsageError(f"{ONLY_ENV}={path}: {exc.strerror}; run the first pass with {RECORD_ENV}") from exc
    if not ids:
        raise pytest.UsageError(f"{ONLY_ENV}={path} lists no test: the first pass saw no LRO-shaped answer")
    return ids


def _stale(missing: set[str]) -> str:
    return f"{ONLY_ENV} lists tests that were not collected: {sorted(missing)[:5]}"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    only = os.environ.get(ONLY_ENV)
    if not only:
        return
    wanted = _listed(only)
    kept = [item for item in items if item.nodeid in wanted]
    missing = wanted - {item.nodeid for item in kept}
    # A listed test renamed or removed since the first pass: say so rather than skip it quietly. On an xdist
    # worker an error here would lose its message, so the controller checks what each worker collected.
    if missing and not _is_worker(config):
        raise pytest.UsageError(_stale(missing))
    config.hook.pytest_deselected(items=[item for item in items if item.nodeid not in wanted])
    items[:] = kept


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> Iterator[None]:
    before = lro_census.shaped_answers()
    yield
    if lro_census.shaped_answers() > before:
        _shaped.append(item.nodeid)


class _MergeWorkerLists:
    """On the xdist controller: checks what each worker selected and collects its shaped tests at its end."""

    def __init__(self) -> None:
        self.lost_worker = False

    def pytest_xdist_node_collection_finished(self, node: object, ids: list[str]) -> None:
        only = os.environ.get(ONLY_ENV)
        if only:
            missing = _listed(only) - set(ids)
            if missing:
                pytest.exit(_stale(missing), returncode=pytest.ExitCode.USAGE_ERROR)

    def pytest_testnodedown(self, node: object, error: object) -> None:
        output = getattr(node, "workeroutput", {})
        if error is not None or _WORKER_KEY not in output:
            self.lost_worker = True
            return
        _shaped.extend(output[_WORKER_KEY])


_merge = _MergeWorkerLists()


def _is_worker(config: pytest.Config) -> bool:
    return hasattr(config, "workerinput")


def pytest_configure(config: pytest.Config) -> None:
    if _is_worker(config):
        return
    only = os.environ.get(ONLY_ENV)
    if only:
        _listed(only)  # the controller refuses a missing or empty list before it starts any worker
    if config.pluginmanager.hasplugin("xdist"):
        config.pluginmanager.register(_merge, "warden-lro-merge")


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if _is_worker(session.config):
        session.config.workeroutput[_WORKER_KEY] = list(dict.fromkeys(_shaped))  # type: ignore[attr-defined]
        return
    record = os.environ.get(RECORD_ENV)
    if not record:
        return
    if _merge.lost_worker:
        Path(record).unlink(missing_ok=True)
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        if reporter is not None:
            reporter.write_line(f"{RECORD_ENV}={record}: a worker went down before it handed over its tests; "
                                "no list written", red=True)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
        return
    Path(record).write_text("".join(f"{nodeid}\n" for nodeid in sorted(dict.fromkeys(_shaped))))
