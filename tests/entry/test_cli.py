"""`python -m remediators` run as an operator runs it (design section 5): separate processes, the app's
settings from `env_for` + Azurite, the real SDK against the emulator, the audit trail on disk."""

from __future__ import annotations

import io
import json
import subprocess
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from azure.mgmt.redis import RedisManagementClient
from azure.mgmt.redis.models import RedisFirewallRule, RedisUpdateParameters
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from devhost.azurite import Azurite, start_azurite
from emulator.principals import JANE, WARDEN_CLIENT_ID
from emulator.server import EmulatorServer
from emulator.testing import EmulatorCredential, cache_id, lro_shape_from_env, sample_cache
from remediators.audit.londontime import parse_uk_date
from remediators.audit.signing import key_fingerprint
from remediators.entry import cli
from remediators.rules import ALL_RULES
from tests.integration.stack import SUB, app_settings, baseline, read_jsonl, run_cli

OFFICE = ("office", "81.2.69.0", "81.2.69.255")
FINDING_KEYS = {"rule", "status", "compliant", "effect", "severity", "reason"}
COMPLIANT_STATUSES = {"compliant", "not_applicable", "exempt"}
# `evaluate` never talks to ARM: running it again under the other LRO shape (make test) proves nothing new.
PURE = pytest.mark.skipif(lro_shape_from_env() != "updating", reason="pure command: independent of the LRO shape")


@pytest.fixture(scope="module")
def az(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Azurite]:
    """One Azurite for this module; every test uses its own cache names so state rows never collide."""
    with start_azurite(log_path=tmp_path_factory.mktemp("cli-azurite") / "azurite.log") as azurite:
        yield azurite


@contextmanager
def emulated(az: Azurite, fleet: list[dict[str, Any]], tmp_path: Path,
             **settings: str) -> Iterator[tuple[EmulatorServer, dict[str, str]]]:
    with EmulatorServer(fleet, lro_shape=lro_shape_from_env(), queue_connection_string=az.connection_string) as arm:
        yield arm, app_settings(arm, az, tmp_path / "audit.jsonl", **settings)


def _no_traceback(result: subprocess.CompletedProcess[str]) -> None:
    assert "Traceback" not in result.stderr and "Traceback" not in result.stdout, result.stderr


def _arm_calls(arm: EmulatorServer) -> list[dict[str, Any]]:
    """Requests to ARM proper: a process start also fetches a token from the identity endpoint."""
    return [r for r in arm.requests() if r["path"].lower().startswith("/subscriptions/")]


def _writes(arm: EmulatorServer) -> list[dict[str, Any]]:
    return [r for r in arm.requests()
            if (r["caller"] or {}).get("appid") == WARDEN_CLIENT_ID and r["method"] in ("PUT", "PATCH", "DELETE")]


def _jane(arm: EmulatorServer) -> RedisManagementClient:
    return RedisManagementClient(EmulatorCredential(arm, JANE), SUB, base_url=arm.arm_endpoint,
                                 polling_interval=0, connection_verify=arm.ca_bundle)


def _write_json(path: Path, doc: Any) -> str:
    path.write_text(json.dumps(doc), encoding="utf-8")
    return str(path)


# ---------------------------------------------------------------------------------------------- evaluate


def _in_process(argv: list[str]) -> tuple[int, str]:
    """The CLI's own entry point in this process (exit code, stdout), for cases where a second interpreter
    start adds nothing; stderr goes to pytest's capture."""
    out = io.StringIO()
    return cli.main(argv, out=out), out.getvalue()


def _evaluate(tmp_path: Path, cache: Mapping[str, Any], rules: list[tuple[str, str, str]], *,
              subprocess_run: bool = True) -> dict[str, Any]:
    body = {k: v for k, v in cache.items() if k not in ("firewallRules", "diagnosticSettings", "x-emulator")}
    listing = {"value": [{"id": f"{cache['id']}/firewallRules/{n}", "name": n,
                          "properties": {"startIP": s, "endIP": e}} for n, s, e in rules]}
    argv = ["evaluate", "--resource", _write_json(tmp_path / f"{cache['name']}.json", body),
            "--firewall-rules", _write_json(tmp_path / f"{cache['name']}-rules.json", listing),
            "--baseline", baseline()]
    if not subprocess_run:
        code, stdout = _in_process(argv)
        assert code == 0
        return json.loads(stdout)
    result = run_cli(argv, {})
    _no_traceback(result)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


@PURE
def test_evaluate_prints_every_registered_rule_in_the_documented_shape(tmp_path: Path) -> None:
    legacy = sample_cache("eval-legacy", properties={"enableNonSslPort": True, "minimumTlsVersion": "1.0"})
    out = _evaluate(tmp_path, legacy, [("allow_all", "0.0.0.0", "255.255.255.255")])

    assert set(out) == {"resource_id", "findings"}
    assert out["resource_id"].lower() == legacy["id"].lower()
    assert [f["rule"] for f in out["findings"]] == [r.metadata.id for r in ALL_RULES]
    for finding in out["findings"]:
        assert set(finding) == FINDING_KEYS
        assert finding["compliant"] is (finding["status"] in COMPLIANT_STATUSES), finding
        assert finding["reason"]
    by_rule = {f["rule"]: f for f in out["findings"]}
    for rule in ("non-ssl-port", "tls-min-version", "firewall"):
        assert (by_rule[rule]["status"], by_rule[rule]["effect"]) == ("non_compliant", "remediate"), by_rule[rule]
    assert by_rule["metric-alerts"]["status"] == "not_applicable"  # disabled in this baseline

    fixed = sample_cache("eval-fixed")
    out = _evaluate(tmp_path, fixed, [OFFICE], subprocess_run=False)
    by_rule = {f["rule"]: f for f in out["findings"]}
    for rule in ("non-ssl-port", "tls-min-version", "firewall"):
        assert by_rule[rule]["status"] == "compliant" and by_rule[rule]["compliant"] is True, by_rule[rule]


@PURE
@pytest.mark.parametrize(("args", "message"), [
    (["--resource", "@missing"], "cannot read"),
    (["--resource", "@not_json"], "not valid JSON"),
    (["--resource", "@array"], "cache"),
    (["--resource", "@bad_id"], "subscription"),
    (["--resource", "@cache", "--firewall-rules", "@not_a_list"], "firewall rules"),
    (["--resource", "@cache", "--baseline", '{"version": 1, "rules": 3}'], "baseline"),
])
def test_evaluate_bad_input_exits_2_with_a_clear_message(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    (tmp_path / "bad.json").write_text("{", encoding="utf-8")
    files = {
        "@missing": str(tmp_path / "absent.json"),
        "@not_json": str(tmp_path / "bad.json"),
        "@array": _write_json(tmp_path / "array.json", [sample_cache("eval-array")]),
        "@bad_id": _write_json(tmp_path / "bad-id.json", {
            "id": "/subscriptions/not-a-guid/resourceGroups/rg/providers/Microsoft.Cache/Redis/x", "properties": {}}),
        "@cache": _write_json(tmp_path / "cache.json", sample_cache("eval-bad")),
        "@not_a_list": _write_json(tmp_path / "rules.json", {"value": 3}),
    }
    code, stdout = _in_process(["evaluate", *(files.get(a, a) for a in args)])
    stderr = capsys.readouterr().err
    assert (code, stdout) == (2, ""), stderr
    assert stderr.startswith("error: ") and message in stderr, stderr


@PURE
def test_evaluate_as_a_process_fails_cleanly_on_bad_input_and_bad_usage(tmp_path: Path) -> None:
    (tmp_path / "bad.json").write_text("{", encoding="utf-8")
    for argv, message in ((["evaluate", "--resource", str(tmp_path / "bad.json")], "not valid JSON"),
                          (["evaluate"], "--resource")):
        result = run_cli(argv, {})
        _no_traceback(result)
        assert result.returncode == 2 and result.stdout == "", result
        assert message in result.stderr, result.stderr


# ---------------------------------------------------------------------------------------------- replay


def test_replay_processes_a_delivery_body_dry_run_first_then_for_real(az: Azurite, tmp_path: Path) -> None:
    fleet = [sample_cache("replay-cache", firewall_rules=[OFFICE])]
    with emulated(az, fleet, tmp_path) as (arm, settings):
        jane = _jane(arm)
        jane.redis.begin_update("rg-payments", "replay-cache", RedisUpdateParameters(enable_non_ssl_port=True)).result()
        first = _write_json(tmp_path / "first.json", arm.events())

        result = run_cli(["replay", first, "--dry-run"], settings)
        _no_traceback(result)
        assert (result.returncode, json.loads(result.stdout)) == (0, {"events": 1, "outcomes": {"dry-run": 1}})
        assert _writes(arm) == []
        skipped = [r for r in read_jsonl(tmp_path / "audit.jsonl") if r["kind"] == "skipped-dry-run"]
        assert skipped and all("request:cli" in r["dry_run_source"] for r in skipped), skipped
        assert arm.cache(fleet[0]["id"])["properties"]["enableNonSslPort"] is True

        # A dry run does not use up the events: the same file replayed for real acts on them.
        result = run_cli(["replay", first], settings)
        _no_traceback(result)
        assert json.loads(result.stdout)["outcomes"] == {"remediated": 1}
        assert arm.cache(fleet[0]["id"])["properties"]["enableNonSslPort"] is False

        # A new write by Jane, replayed for real: fixed with one PATCH holding only the changed field.
        jane.firewall_rules.create_or_update("rg-payments", "replay-cache", "jane_all",
                                             RedisFirewallRule(start_ip="0.0.0.0", end_ip="255.255.255.255"))
        second = _write_json(tmp_path / "second.json", arm.events()[-1:])
        result = run_cli(["replay", second], settings)
        _no_traceback(result)
        assert (result.returncode, json.loads(result.stdout)) == (0, {"events": 1, "outcomes": {"remediated": 1}})
        final = arm.cache(fleet[0]["id"])
        assert final["properties"]["enableNonSslPort"] is False
        assert {r["name"] for r in final["firewallRules"]} == {"office"}
        writes = len(_writes(arm))

        # The same delivery again (Event Grid delivers at least once): dropped by event id, no ARM call.
        calls = len(_arm_calls(arm))
        result = run_cli(["replay", second], settings)
        assert (result.returncode, json.loads(result.stdout)) == (0, {"events": 1, "outcomes": {"ignored": 1}})
        assert len(_arm_calls(arm)) == calls and len(_writes(arm)) == writes
        assert "duplicate" in read_jsonl(tmp_path / "audit.jsonl")[-1]["detail"]


def test_replay_of_an_unreadable_file_exits_2(az: Azurite, tmp_path: Path) -> None:
    with emulated(az, [sample_cache("replay-missing")], tmp_path) as (_, settings):
        result = run_cli(["replay", str(tmp_path / "absent.json")], settings)
    _no_traceback(result)
    assert result.returncode == 2 and "absent.json" in result.stderr, result.stderr


# ---------------------------------------------------------------------------------------------- scan + audit


def _pem_key(path: Path) -> str:
    key = ec.generate_private_key(ec.SECP256R1())
    path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()))
    return str(path)


def test_scan_exits_3_for_a_cache_left_deferred_and_the_trail_reviews_through_the_cli(
    az: Azurite, tmp_path: Path
) -> None:
    fleet = [
        sample_cache("scan-drift", properties={"enableNonSslPort": True}, firewall_rules=[OFFICE]),
        sample_cache("scan-busy", properties={"enableNonSslPort": True}, firewall_rules=[OFFICE],
                     knobs={"busyForGets": 100000}),
        sample_cache("scan-elsewhere", resource_group="rg-other", properties={"minimumTlsVersion": "1.1"},
                     firewall_rules=[OFFICE]),
    ]
    key = _pem_key(tmp_path / "checkpoint-key.pem")
    with emulated(az, fleet, tmp_path, WARDEN_SIGNING_KEY=key) as (arm, settings):
        result = run_cli(["scan", "--subscription", SUB, "--resource-group", "rg-payments", "--retry-for", "2"],
                         settings)
        _no_traceback(result)
        assert result.returncode == 3, result.stderr
        summary = json.loads(result.stdout)
        assert summary["caches"] == 2
        assert summary["outcomes"] == {"remediated": 1}
        assert [c.lower() for c in summary["stillDeferred"]] == [fleet[1]["id"].lower()]
        assert "scan-drift: remediated" in result.stderr  # the progress bar goes to stderr
        assert arm.cache(fleet[0]["id"])["properties"]["enableNonSslPort"] is False
        assert arm.cache(fleet[1]["id"])["properties"]["enableNonSslPort"] is True
        assert not [r for r in arm.requests() if "/rg-other/" in r["path"].lower()]

        # A dry-run scan of the other resource group: nothing written, the record names the CLI as source.
        before = len(_writes(arm))
        result = run_cli(["scan", "--subscription", SUB, "--resource-group", "rg-other", "--dry-run"], settings)
        _no_traceback(result)
        assert result.returncode == 0, result.stderr
        assert json.loads(result.stdout)["outcomes"] == {"dry-run": 1}
        assert len(_writes(arm)) == before
        assert arm.cache(fleet[2]["id"])["properties"]["minimumTlsVersion"] == "1.1"

    trail = tmp_path / "audit.jsonl"
    records = read_jsonl(trail)
    dry = [r for r in records if r["kind"] == "skipped-dry-run"]
    assert dry and all(r["cache_id"].endswith("scan-elsewhere") and "request:cli" in r["dry_run_source"]
                       for r in dry)
    deferred = [r for r in records if r["kind"] == "deferred" and r["cache_id"].endswith("scan-busy")]
    assert deferred and all("Updating" in r["detail"] for r in deferred)
    assert [r["kind"] for r in records].count("scan-finished") == 2

    review = {"WARDEN_AUDIT_FILE": str(trail)}
    fingerprint = key_fingerprint(key)
    result = run_cli(["audit", "verify", "--key-fingerprint", fingerprint], review)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.startswith("OK:") and "2 checkpoint(s)" in result.stdout, result.stdout
    code, stdout = _in_process(["audit", "verify", "--file", str(trail), "--key-fingerprint", "0" * 64])
    assert code == 1 and "FAILED" in stdout, stdout

    code, stdout = _in_process(["audit", "export", "--format", "json", "--file", str(trail)])
    assert code == 0
    items = json.loads(stdout)
    assert [i["hash"] for i in items] == [r["hash"] for r in records]
    today = datetime.now(UTC)
    assert all(parse_uk_date(i["london"]["date"]) for i in items)
    code, stdout = _in_process(["audit", "export", "--format", "csv", "--file", str(trail), "--cache", "scan-drift",
                                "--rule", "non-ssl-port"])
    assert code == 0
    header, *rows = stdout.strip().splitlines()
    assert header.startswith("time_utc,date_uk,time_london") and rows
    assert all("scan-drift" in row and "non-ssl-port" in row for row in rows)
    assert {row.split(",")[4] for row in rows} >= {"detected", "remediation-started", "remediated"}
    bad_date = run_cli(["audit", "export", "--format", "json", "--file", str(trail),
                        "--since", today.strftime("%Y-%m-%d")], {})
    _no_traceback(bad_date)
    assert bad_date.returncode == 2 and bad_date.stdout == "" and "DD/MM/YYYY" in bad_date.stderr, bad_date.stderr

    code, stdout = _in_process(["audit", "show", "--file", str(trail), "--cache", "scan-busy"])
    assert code == 0 and "scan-busy" in stdout and "deferred" in stdout, stdout

    code, stdout = _in_process(["report", "--format", "json", "--file", str(trail)])
    assert code == 0
    caches = {c["cache_id"].rsplit("/", 1)[-1]: c for c in json.loads(stdout)["caches"]}
    assert {"scan-drift", "scan-busy", "scan-elsewhere"} <= set(caches)
    assert caches["scan-drift"]["last_remediation"] and not caches["scan-busy"].get("last_remediation")
    assert "non-ssl-port" not in {f["rule"] for f in caches["scan-drift"]["open_findings"]}
    # The dry-run scan only reported: the other group's TLS finding stays open.
    assert "tls-min-version" in {f["rule"] for f in caches["scan-elsewhere"]["open_findings"]}

    # One changed byte in the middle of the trail: verify names the broken record and exits non-zero.
    lines = trail.read_text(encoding="utf-8").splitlines()
    victim = json.loads(lines[3])
    victim["detail"] = (victim.get("detail") or "") + " (edited)"
    lines[3] = json.dumps(victim, sort_keys=True, separators=(",", ":"))
    trail.write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = run_cli(["audit", "verify", "--file", str(trail)], {})
    assert result.returncode == 1 and "FAILED" in result.stdout, result.stdout
    assert f"seq {victim['seq']}" in result.stdout or str(victim["seq"]) in result.stdout, result.stdout


def test_scan_of_a_subscription_outside_the_allowlist_exits_2(az: Azurite, tmp_path: Path) -> None:
    other = "11111111-2222-4333-8444-555555555555"
    with emulated(az, [sample_cache("scan-foreign", subscription_id=other,
                                    properties={"enableNonSslPort": True})], tmp_path) as (arm, settings):
        result = run_cli(["scan", "--subscription", other], settings)
        _no_traceback(result)
        assert result.returncode == 2 and "WARDEN_SUBSCRIPTIONS" in result.stderr, result.stderr
        assert not [r for r in arm.requests() if (r["caller"] or {}).get("appid") == WARDEN_CLIENT_ID
                    and other in r["path"]]
        assert arm.cache(cache_id("scan-foreign", subscription_id=other))["properties"]["enableNonSslPort"] is True
