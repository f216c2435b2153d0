"""Session-wide services and the LRO-shape selection.

Azurite is started once for the whole test run and stopped at the end.

`make test` runs the suite with the LRO shape recorded from real traffic, then again with the spec's other
shape (`WARDEN_TEST_LRO_SHAPE=updating`). The second pass need only repeat the tests during which the
emulator answered a write with an operation (`emulator.lro_census`): the first pass writes their node ids
to the file `WARDEN_TEST_LRO_RECORD` names, and the second runs exactly those listed in
`WARDEN_TEST_LRO_ONLY`. A missing or empty list is an error, never "run nothing" or "run everything".
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


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    only = os.environ.get(ONLY_ENV)
    if not only:
        return
    wanted = _listed(only)
    kept = [item for item in items if item.nodeid in wanted]
    missing = wanted - {item.nodeid for item in kept}
    if missing:  # a listed test renamed or removed since the first pass: say so rather than skip it quietly
        raise pytest.UsageError(f"{ONLY_ENV} lists tests that were not collected: {sorted(missing)[:5]}")
    config.hook.pytest_deselected(items=[item for item in items if item.nodeid not in wanted])
    items[:] = kept


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> Iterator[None]:
    before = lro_census.shaped_answers()
    yield
    if lro_census.shaped_answers() > before:
        _shaped.append(item.nodeid)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    record = os.environ.get(RECORD_ENV)
    if record:
        Path(record).write_text("".join(f"{nodeid}\n" for nodeid in dict.fromkeys(_shaped)))
