"""Session-wide services: Azurite is started once for the whole test run and stopped at the end."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from devhost.azurite import Azurite, start_azurite


@pytest.fixture(scope="session")
def azurite(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Azurite]:
    log = tmp_path_factory.mktemp("azurite") / "azurite.log"
    with start_azurite(log_path=log) as az:
        yield az
