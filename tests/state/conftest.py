"""What the state tests share: a cache id and a StateStore on the session's Azurite."""

from __future__ import annotations

import pytest

from devhost.azurite import Azurite
from remediators.resource_ids import ResourceId, parse_cache_id
from remediators.settings import StorageSettings
from remediators.state.storage import StorageClients
from remediators.state.store import StateStore

SUB = "6f1c7e3a-2b4d-4c1e-9f3a-0d2b8e5a7c11"


def cache(name: str) -> ResourceId:
    return parse_cache_id(f"/subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.Cache/Redis/{name}")


@pytest.fixture
def store(azurite: Azurite) -> StateStore:
    s = StateStore(StorageClients(StorageSettings(connection_string=azurite.connection_string)))
    s.ensure()
    s.ensure()  # idempotent
    return s
