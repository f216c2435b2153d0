"""KeyExpiryReader, as the engine uses it: every failure becomes a reason on the snapshot, never a crash and
never a compliant finding. Against the real TLS redis-server of tests/dataplane/conftest.py."""

from __future__ import annotations

from typing import Any

import pytest

from devhost.redis_server import LocalRedis, StaticEntraCredential, start_redis
from remediators.dataplane.endpoint import RedisEndpoint
from remediators.dataplane.reader import KeyExpiryReader
from remediators.models import CacheSnapshot
from remediators.resource_ids import parse_cache_id
from remediators.rules import rule_by_id
from remediators.rules.base import RuleContext

CACHE = "/subscriptions/11111111-2222-3333-4444-555555555555/resourceGroups/rg/providers/Microsoft.Cache/Redis/c1"


def snap(host: Any = "c1.redis.cache.windows.net") -> CacheSnapshot:
    return CacheSnapshot(cache_id=parse_cache_id(CACHE),
                         resource={"id": CACHE, "properties": {"hostName": host, "sslPort": 6380}})


def local(server: LocalRedis, credential: StaticEntraCredential) -> KeyExpiryReader:
    return KeyExpiryReader(credential, ca_file=server.ca_file,
                           endpoints=lambda cache: RedisEndpoint(server.host, server.tls_port))


def test_a_sample_lands_on_the_snapshot_and_the_rule_judges_it(server, credential, seeder) -> None:
    for i in range(30):
        seeder.set(f"session:{i}", "x")
    outcome = local(server, credential).sample(snap(), {"maxKeys": 100, "commandsPerSecond": 1000})
    assert outcome.error is None and outcome.report is not None and outcome.report.sampled == 30
    fields = outcome.snapshot_fields()
    from dataclasses import replace

    verdict = rule_by_id("key-expiry").evaluate(replace(snap(), **fields), RuleContext(opted_in=True))
    assert verdict.status.value == "non_compliant" and "session" in verdict.remediation.reason


def test_a_hostile_host_name_is_refused_before_any_connection(credential) -> None:
    outcome = KeyExpiryReader(credential).sample(snap("attacker.example.com"), {})
    assert outcome.report is None and "not under an Azure Redis suffix" in str(outcome.error)


def test_no_data_access_policy_is_a_reason_not_a_crash(tmp_path_factory, credential) -> None:
    import redis

    with start_redis(tmp_path_factory.mktemp("noperm"), {credential.object_id: credential.token},
                     acl="~* -@all +scan", admin=("seed", "seed-pw")) as server:  # no PTTL in the policy
        redis.Redis(host=server.host, port=server.tls_port, ssl=True, ssl_ca_certs=server.ca_file,
                    username="seed", password="seed-pw").set("session:1", "x")
        outcome = local(server, credential).sample(snap(), {})
    assert outcome.report is None and "NoPermission" in str(outcome.error)


def test_an_unreachable_cache_is_a_reason(credential) -> None:
    reader = KeyExpiryReader(credential, endpoints=lambda cache: RedisEndpoint("localhost", 1), timeout=1)
    outcome = reader.sample(snap(), {})
    assert outcome.report is None and "ConnectionError" in str(outcome.error)


@pytest.mark.parametrize("params", [{"maxKeys": 0}, {"commandsPerSecond": "fast"}])
def test_bad_parameters_are_a_reason(credential, params: dict[str, Any]) -> None:
    outcome = KeyExpiryReader(credential).sample(snap(), params)
    assert outcome.report is None and outcome.error
