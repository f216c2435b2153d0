"""`scan` over several subscriptions or a management group, run as an operator runs it: a separate process,
the app's settings, Azurite, the real SDKs against the emulator (whose Resource Graph answers are held to
recorded traffic in tests/conformance/test_resource_graph.py), and the trail on disk. Wrong input is read as a
person reads it: one line on stderr, exit 2, no traceback, nothing sent to ARM."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from devhost.azurite import Azurite, start_azurite
from emulator.server import EmulatorServer
from emulator.testing import cache_id, lro_shape_from_env, sample_cache
from tests.integration.stack import SUB, app_settings, read_jsonl, run_cli

OFFICE = ("office", "81.2.69.0", "81.2.69.255")
SUB_B = "0b7e4a52-3c1d-4f6e-8a9b-1c2d3e4f5a6b"
SUB_C = "9d8c7b6a-5e4f-4a3b-8c2d-1e0f9a8b7c6d"
FOREIGN = "11111111-2222-4333-8444-555555555555"  # in the management group, not in WARDEN_SUBSCRIPTIONS


@pytest.fixture(scope="module")
def az(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Azurite]:
    with start_azurite(log_path=tmp_path_factory.mktemp("fleet-azurite") / "azurite.log") as azurite:
        yield azurite


@contextmanager
def emulated(az: Azurite, fleet: list[dict[str, Any]], tmp_path: Path,
             **server: Any) -> Iterator[tuple[EmulatorServer, dict[str, str]]]:
    with EmulatorServer(fleet, lro_shape=lro_shape_from_env(), queue_connection_string=az.connection_string,
                        **server) as arm:
        yield arm, app_settings(arm, az, tmp_path / "audit.jsonl",
                                WARDEN_SUBSCRIPTIONS=",".join((SUB, SUB_B, SUB_C)))


def _drifted(name: str, sub: str) -> dict[str, Any]:
    return sample_cache(name, subscription_id=sub, properties={"enableNonSslPort": True}, firewall_rules=[OFFICE])


def _clean(result: subprocess.CompletedProcess[str]) -> None:
    assert "Traceback" not in result.stderr and "Traceback" not in result.stdout, result.stderr


def _lists(arm: EmulatorServer) -> list[str]:
    """ARM list calls for caches (a GET on a provider's type with no name after it)."""
    return [r["path"] for r in arm.requests() if r["method"] == "GET"
            and r["path"].lower().rstrip("/").endswith(("/microsoft.cache/redis", "/microsoft.cache/redisenterprise"))]


@pytest.mark.parametrize(("args", "message"), [
    (["--subscription", "not-a-guid"], "error: scan: --subscription: subscription id 'not-a-guid' is not a GUID"),
    (["--subscription", f"{SUB},{SUB_B[:-1]}"], f"subscription id '{SUB_B[:-1]}' is not a GUID"),
    (["--management-group", "mg/../../subscriptions"],
     "error: scan: --management-group: management group name 'mg/../../subscriptions' is invalid"),
    (["--management-group", "payments."], "not ending in '.'"),
    (["--management-group", "/providers/Microsoft.Management/policies/x"],
     "management group id must be /providers/Microsoft.Management/managementGroups/{name}"),
    (["--management-group", "mg-a", "--subscription", SUB], "give --management-group or --subscription, not both"),
    ([], "error: scan: give --subscription ID (repeatable) or --management-group NAME"),
    (["--subscription", SUB, "--subscription", SUB_B, "--resource-group", "rg"],
     "--resource-group goes with exactly one --subscription"),
])
def test_wrong_scope_input_exits_2_with_one_clear_line(args: list[str], message: str) -> None:
    result = run_cli(["scan", *args], {})  # refused before any setting is read or anything is sent
    _clean(result)
    assert result.returncode == 2 and message in result.stderr, result.stderr
    assert result.stderr.count("\n") == 1 and result.stdout == ""


def test_a_multi_subscription_scan_reconciles_caches_in_every_subscription(az: Azurite, tmp_path: Path) -> None:
    fleet = [_drifted("fleet-a", SUB), _drifted("fleet-b", SUB_B), _drifted("fleet-c", SUB_C),
             _drifted("fleet-a2", SUB), sample_cache("fleet-ok", subscription_id=SUB_B, firewall_rules=[OFFICE])]
    with emulated(az, fleet, tmp_path) as (arm, settings):
        result = run_cli(["scan", "--subscription", SUB, "--subscription", f"{SUB_B},{SUB_C}"], settings)
        _clean(result)
        assert result.returncode == 0, result.stderr
        summary = json.loads(result.stdout)
        assert summary["caches"] == 5 and summary["outcomes"] == {"remediated": 4, "compliant": 1}
        assert all(arm.cache(c["id"])["properties"]["enableNonSslPort"] is False for c in fleet)
        graph = [r for r in arm.requests() if "resourcegraph" in r["path"].lower()]
        # One ARG query for the caches and one for the scheduled query rules (auth-alerts): no ARM list call
        assert len(graph) == 2 and _lists(arm) == []
        assert not [r for r in arm.requests() if "scheduledqueryrules" in r["path"].lower()]
        gets = [r["path"].lower() for r in arm.requests() if r["method"] == "GET"]
        assert gets.count(fleet[-1]["id"].lower()) == 0  # the compliant cache: ARG's row stood for its GET
    records = read_jsonl(tmp_path / "audit.jsonl")
    started = [r for r in records if r["kind"] == "scan-started"]
    assert started[0]["cache_count"] == 5 and SUB_C in started[0]["detail"]
    assert {r["cache_id"].split("/")[2] for r in records if r["kind"] == "remediated"} == {SUB, SUB_B, SUB_C}


def test_a_management_group_scan_stays_inside_the_allowlist_and_audits_what_it_refused(
    az: Azurite, tmp_path: Path
) -> None:
    fleet = [_drifted("mg-a", SUB), _drifted("mg-b", SUB_B), _drifted("mg-foreign", FOREIGN)]
    with emulated(az, fleet, tmp_path, management_groups={"mg-payments": [SUB, SUB_B, FOREIGN]}) as (arm, settings):
        result = run_cli(["scan", "--management-group", "/providers/Microsoft.Management/managementGroups/mg-payments",
                          "--dry-run"], settings)
        _clean(result)
        assert result.returncode == 0, result.stderr
        assert json.loads(result.stdout)["outcomes"] == {"dry-run": 2}
        assert not [r for r in arm.requests() if FOREIGN in r["path"]]  # never read, let alone written
        unknown = run_cli(["scan", "--management-group", "mg-nowhere"], settings)
        _clean(unknown)
        assert unknown.returncode == 2 and "listing caches failed: ARM invalid" in unknown.stderr, unknown.stderr
    records = read_jsonl(tmp_path / "audit.jsonl")
    refused = [r for r in records if r["kind"] == "alert" and (r.get("outcome") or {}).get("status") == "rows-refused"]
    assert len(refused) == 1 and refused[0]["outcome"]["refused"] == [
        {"reason": f"subscription {FOREIGN} is outside the scan's scope", "id": cache_id("mg-foreign",
                                                                                          subscription_id=FOREIGN)}]


def test_when_resource_graph_refuses_each_subscription_is_listed_with_arm(az: Azurite, tmp_path: Path) -> None:
    from emulator.authorization import GRAPH_READ_ACTION, Authorization

    fleet = [_drifted("fb-a", SUB), _drifted("fb-b", SUB_B)]
    auth = Authorization.from_infra().without(GRAPH_READ_ACTION)
    with emulated(az, fleet, tmp_path, authorization=auth) as (arm, settings):
        result = run_cli(["scan", "--subscription", f"{SUB},{SUB_B}"], settings)
        _clean(result)
        assert result.returncode == 0, result.stderr
        assert json.loads(result.stdout)["outcomes"] == {"remediated": 2}
        assert len(_lists(arm)) == 4  # both kinds in both subscriptions
    alerts = [r for r in read_jsonl(tmp_path / "audit.jsonl") if r["kind"] == "alert"]
    assert [a["outcome"]["code"] for a in alerts] == ["AuthorizationFailed"]


def test_a_fleet_listing_is_taken_round_robin_by_subscription() -> None:
    from remediators.entry.scan import interleaved
    from remediators.resource_ids import parse_cache_id

    ids = [parse_cache_id(cache_id(f"c{i}", subscription_id=s)) for s, n in ((SUB, 3), (SUB_B, 1), (SUB_C, 2))
           for i in range(n)]
    order = [(c.subscription_id, c.name) for c in interleaved(ids)]
    assert order == [(SUB, "c0"), (SUB_B, "c0"), (SUB_C, "c0"), (SUB, "c1"), (SUB_C, "c1"), (SUB, "c2")]
    assert interleaved([]) == []
