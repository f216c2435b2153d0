"""Session-wide services: Azurite is started once for the whole test run and stopped at the end."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from devhost.azurite import Azurite, start_azurite
from tests.infra import session_check


@pytest.fixture(scope="session")
def azurite(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Azurite]:
    log = tmp_path_factory.mktemp("azurite") / "azurite.log"
    with start_azurite(log_path=log) as az:
        yield az


def pytest_configure(config: pytest.Config) -> None:
    """Every emulator of the run (in this process or a child) logs its requests to one place."""
    session_check.configure(config)


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Permissions from evidence: the custom roles in infra/ must equal what the warden did in the whole run
    (tests/infra/session_check.py); fails the session with a list of differences otherwise."""
    session_check.finish(session)
