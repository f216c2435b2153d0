"""The count that selects `make test`'s second pass (tests/conftest.py): every write answer whose shape the
LRO setting decides is counted, in both shapes and both cache kinds, and nothing else is. If this count
stopped moving, the second pass would list no test and `make test` would fail (conftest refuses an empty
list), so the selection cannot quietly shrink to nothing."""

from __future__ import annotations

import pytest

from emulator import lro_census
from emulator.testing import RawArm, cache_id, running_emulator, sample_cache


@pytest.mark.parametrize("shape", ["recorded", "updating"])
def test_an_accepted_redis_patch_is_counted_once(shape: str) -> None:
    with running_emulator([sample_cache("c1")], lro_shape=shape, lro_seconds=0.0) as server:
        arm = RawArm(server)
        before = lro_census.shaped_answers()
        assert arm.request("GET", cache_id("c1")).status_code == 200
        assert arm.request("GET", cache_id("c1") + "/firewallRules").status_code == 200
        assert lro_census.shaped_answers() == before  # reads are the same in both shapes
        resp = arm.request("PATCH", cache_id("c1"), body={"properties": {"enableNonSslPort": True}})
        assert resp.status_code == (202 if shape == "recorded" else 200)
        assert lro_census.shaped_answers() == before + 1


def test_a_refused_patch_is_not_counted() -> None:
    with running_emulator([sample_cache("c1")], lro_shape="recorded") as server:
        arm = RawArm(server)
        before = lro_census.shaped_answers()
        resp = arm.request("PATCH", cache_id("c1"), body={"properties": {"minimumTlsVersion": "0.9"}})
        assert resp.status_code == 400
        assert lro_census.shaped_answers() == before
