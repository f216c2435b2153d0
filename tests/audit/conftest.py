"""Helpers shared by the audit tests: a settable clock, signing keys, a fresh blob container per test."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from azure.storage.blob import BlobServiceClient
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from devhost.azurite import Azurite

BASELINE = "b" * 64
IDENTITY = {"oid": "11111111-1111-1111-1111-111111111111", "appid": "22222222-2222-2222-2222-222222222222"}
RG = "/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/rg-app"
CACHE = f"{RG}/providers/Microsoft.Cache/redis/cache-a"
CACHE_B = f"{RG}/providers/Microsoft.Cache/redis/cache-b"


@dataclass
class Clock:
    """A settable UTC clock; `tick` advances it so consecutive records get distinct times."""

    now: datetime
    tick: timedelta = timedelta(seconds=1)

    def __call__(self) -> datetime:
        current = self.now
        self.now = self.now + self.tick
        return current


@pytest.fixture
def clock() -> Clock:
    return Clock(datetime(2026, 3, 2, 9, 0, tzinfo=UTC))


def write_key(path: Path, curve: ec.EllipticCurve | None = None) -> Path:
    key = ec.generate_private_key(curve or ec.SECP256R1())
    path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return path


@pytest.fixture
def signing_key(tmp_path: Path) -> Path:
    return write_key(tmp_path / "signing.pem")


@pytest.fixture
def other_key(tmp_path: Path) -> Path:
    return write_key(tmp_path / "attacker.pem")


@pytest.fixture
def blob_service(azurite: Azurite) -> BlobServiceClient:

    return BlobServiceClient.from_connection_string(azurite.connection_string)


@pytest.fixture
def containers(blob_service: BlobServiceClient) -> Iterator[tuple[str, str]]:
    """A fresh pair of (audit, checkpoint) container names per test, deleted afterwards."""
    suffix = uuid.uuid4().hex[:12]
    names = (f"audit-{suffix}", f"ckpt-{suffix}")
    yield names
    for name in names:
        client = blob_service.get_container_client(name)
        if client.exists():
            client.delete_container()
