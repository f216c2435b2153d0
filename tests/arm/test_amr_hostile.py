"""Azure Managed Redis database names from a hostile ARM (emulator/hostile.py `databaseNames`, `databaseIds`)
against the real azure-mgmt-redisenterprise SDK: a database list that names a database outside ARM's grammar
(`DatabaseNameParameter` in reference/arm-specs/redisenterprise/redisenterprise.json, 2025-07-01:
`^(?=.{1,60}$)[A-Za-z0-9]+(-[A-Za-z0-9]+)*$`) or gives it another database's id stops the read with
`InvalidResourceName`, before the name reaches a URL (access policy assignments, diagnostic settings, a
PATCH); the planner and the gateway refuse such a name too. Before this change the gateway took the name
as listed and sent it back in the access-policy-assignment list URL and the database PATCH.

Only our emulator answers this way; real ARM gives none of these answers, so these tests prove our
defences, not anything about Azure.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from azure.identity import ManagedIdentityCredential

from emulator.server import EmulatorServer
from emulator.testing import running_emulator
from remediators.arm import bodies
from remediators.arm.gateway import ArmError, Gateway
from remediators.models import CacheSnapshot, DatabaseFix, PatchDatabase
from remediators.planning.enterprise import plan_database_patches
from remediators.resource_ids import parse_cache_id
from tests.amr_fleet import assignment, cluster_id, sample_cluster

# Names that would address another URL if sent (climbing out, encoded, reserved, over-long, look-alike).
CRAFTED = ["default/../x", "%2e%2e", "a?b", "x#y", "a" * 61, "d\u0435fault", "a--b", "x_y"]
OTHER_DB = cluster_id("amr-victim") + "/databases/default"
CRAFTED_IDS = {"amr-id-other": OTHER_DB, "amr-id-climb": cluster_id("amr-id-climb") + "/databases/default/../x"}
ALL_INPUTS = frozenset({"diagnostic_settings", "diagnostic_categories", "linked_servers", "access_policy_assignments"})


def _fleet() -> list[dict[str, Any]]:
    fleet = [sample_cluster(f"amr-h{i}", assignments=[assignment()], knobs={"hostile": {"databaseNames": [name]}})
             for i, name in enumerate(CRAFTED)]
    fleet += [sample_cluster(name, assignments=[assignment()], knobs={"hostile": {"databaseIds": [raw]}})
              for name, raw in CRAFTED_IDS.items()]
    return [*fleet, sample_cluster("amr-victim")]


@pytest.fixture(scope="module")
def hostile() -> Iterator[EmulatorServer]:
    with running_emulator(_fleet()) as server:
        yield server


@pytest.fixture
def gateway(hostile: EmulatorServer) -> Gateway:
    return Gateway(hostile.arm_endpoint, ManagedIdentityCredential(), timeout=10, lro_wait_seconds=5,
                   polling_interval=0.0)


def _calls_after_databases(server: EmulatorServer, cluster: str) -> list[str]:
    """Paths the warden asked for on this cluster after its database list (none may follow a refusal)."""
    paths = [r["path"].lower() for r in server.requests() if f"/redisenterprise/{cluster}/" in r["path"].lower()]
    listed = max(i for i, p in enumerate(paths) if p.endswith("/databases"))
    return paths[listed + 1:]


@pytest.mark.parametrize("index", range(len(CRAFTED)), ids=[ascii(n)[:20] for n in CRAFTED])
def test_a_listed_database_name_outside_the_grammar_stops_the_read_before_any_url(
        gateway: Gateway, hostile: EmulatorServer, index: int) -> None:
    cluster = f"amr-h{index}"
    with pytest.raises(ArmError) as info:
        gateway.read(parse_cache_id(cluster_id(cluster)), ALL_INPUTS)
    assert (info.value.kind, info.value.code, info.value.status) == ("blocked", "InvalidResourceName", None)
    assert "outside ARM's grammar" in info.value.message and "nothing was sent" in info.value.message
    assert ascii(CRAFTED[index])[:40].strip("'") in info.value.message or len(CRAFTED[index]) > 40
    assert _calls_after_databases(hostile, cluster) == []  # no assignments, no diagnostics, for any database


@pytest.mark.parametrize("cluster", sorted(CRAFTED_IDS))
def test_a_listed_database_whose_id_is_not_its_own_stops_the_read(gateway: Gateway, hostile: EmulatorServer,
                                                                  cluster: str) -> None:
    with pytest.raises(ArmError) as info:
        gateway.read(parse_cache_id(cluster_id(cluster)), ALL_INPUTS)
    assert info.value.code == "InvalidResourceName" and "not that database's" in info.value.message
    assert _calls_after_databases(hostile, cluster) == []
    assert not [r for r in hostile.requests() if "/amr-victim/" in r["path"].lower()]


def test_an_honest_cluster_still_reads(gateway: Gateway) -> None:
    snap = gateway.read(parse_cache_id(cluster_id("amr-victim")), ALL_INPUTS)
    assert [d["name"] for d in snap.databases or ()] == ["default"]


@pytest.mark.parametrize("name", CRAFTED)
def test_the_gateway_never_sends_a_database_patch_with_a_crafted_name(gateway: Gateway, hostile: EmulatorServer,
                                                                      name: str) -> None:
    step = PatchDatabase({"properties": {"clientProtocol": "Encrypted"}}, ("r",), {}, {}, database=name)
    with pytest.raises(ArmError) as info:
        gateway.apply(parse_cache_id(cluster_id("amr-victim")), step)
    assert (info.value.kind, info.value.code) == ("invalid", "InvalidResourceName")
    assert [r for r in hostile.requests() if r["method"] == "PATCH"] == []


@pytest.mark.parametrize("name", CRAFTED)
def test_the_planner_refuses_a_database_name_outside_the_grammar(name: str) -> None:
    """Defence in depth: a snapshot built some other way (a saved body, a future reader) still plans nothing."""
    cluster = parse_cache_id(cluster_id("amr-victim"))
    snapshot = CacheSnapshot(cache_id=cluster, resource={"properties": {}},
                             databases=({"id": f"{cluster.arm_id}/databases/{name}", "name": name,
                                         "properties": {"clientProtocol": "Plaintext"}},))
    patches, manual, _ = plan_database_patches(
        [("tls", DatabaseFix({name: {"clientProtocol": "Encrypted"}}))], snapshot)
    assert patches == []
    assert [m.rule for m in manual] == ["tls"] and "outside ARM's grammar" in manual[0].reason


@pytest.mark.parametrize("name", CRAFTED)
def test_saved_database_bodies_with_a_crafted_name_are_refused(name: str) -> None:
    cluster = parse_cache_id(cluster_id("amr-victim"))
    with pytest.raises(bodies.InvalidBody):
        bodies.cluster_databases(cluster, [{"id": f"{cluster.arm_id}/databases/{name}", "properties": {}}])
