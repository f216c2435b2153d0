"""One real TLS redis-server per module: a sampling user named by an Entra object id, and a seeding user."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
import redis

from devhost.redis_server import LocalRedis, StaticEntraCredential, start_redis

ADMIN = ("seeder", "seeder-password-for-tests")


@pytest.fixture(scope="module")
def credential() -> StaticEntraCredential:
    return StaticEntraCredential(str(uuid.uuid4()))


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, credential: StaticEntraCredential) -> Iterator[LocalRedis]:
    with start_redis(tmp_path_factory.mktemp("redis"), {credential.object_id: credential.token}, admin=ADMIN) as srv:
        yield srv


@pytest.fixture()
def seeder(server: LocalRedis) -> Iterator[redis.Redis]:
    client = redis.Redis(host=server.host, port=server.tls_port, ssl=True, ssl_ca_certs=server.ca_file,
                         username=ADMIN[0], password=ADMIN[1])
    client.flushall()
    yield client
    client.close()
