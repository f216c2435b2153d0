"""`POST /api/scans` and `GET /api/scans/{id}` through the dev host running the real function_app
(design section 5): function-key auth, the allowlist, strict request bodies, progress, dry-run."""

from __future__ import annotations

import io
import json
import re
import uuid
from pathlib import Path
from typing import Any

import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from emulator.principals import WARDEN_CLIENT_ID
from emulator.testing import sample_cache
from remediators.audit import commands
from remediators.audit.signing import key_fingerprint
from tests.integration.stack import SUB, Stack, read_jsonl, running_stack

OFFICE = ("office", "81.2.69.0", "81.2.69.255")
UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


def _post(stack: Stack, body: Any = None, *, raw: bytes | None = None, key: str | None = "") -> requests.Response:
    """`key=""` sends the function key, None sends none, anything else sends that key."""
    headers = {"Content-Type": "application/json"}
    if key is not None:
        headers["x-functions-key"] = key or stack.host.function_key
    data = raw if raw is not None else json.dumps(body).encode("utf-8")
    return requests.post(f"{stack.host.http_base_url}/api/scans", data=data, headers=headers, timeout=30)


def _get(stack: Stack, scan_id: str, *, key: bool = True) -> requests.Response:
    headers = {"x-functions-key": stack.host.function_key} if key else {}
    return requests.get(f"{stack.host.http_base_url}/api/scans/{scan_id}", headers=headers, timeout=30)


def _warden_calls(stack: Stack) -> list[dict[str, Any]]:
    return [r for r in stack.arm.requests() if (r["caller"] or {}).get("appid") == WARDEN_CLIENT_ID
            and r["path"].lower().startswith("/subscriptions/")]


def _pem_key(path: Path) -> str:
    key = ec.generate_private_key(ec.SECP256R1())
    path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()))
    return str(path)


def test_scan_reports_progress_and_the_last_cache_writes_scan_finished_and_a_checkpoint(tmp_path: Path) -> None:
    fleet = [
        sample_cache("http-drift", properties={"enableNonSslPort": True}, firewall_rules=[OFFICE]),
        sample_cache("http-clean", firewall_rules=[OFFICE]),
        sample_cache("http-busy", properties={"minimumTlsVersion": "1.1"}, firewall_rules=[OFFICE],
                     knobs={"busyForGets": 2}),
    ]
    key = _pem_key(tmp_path / "checkpoint-key.pem")
    with running_stack(tmp_path, fleet, settings={"WARDEN_SIGNING_KEY": key}) as stack:
        reply = _post(stack, {"scope": f"/subscriptions/{SUB}"})
        assert reply.status_code == 202, reply.text
        started = reply.json()
        assert set(started) == {"scanId", "cacheCount", "dryRun", "dryRunSources"} and UUID.match(started["scanId"])
        assert (started["dryRun"], started["dryRunSources"]) == (False, [])
        assert started["cacheCount"] == len(fleet)

        early = _get(stack, started["scanId"])
        assert early.status_code == 200
        assert 0 <= early.json()["done"] <= len(fleet) and early.json()["cacheCount"] == len(fleet)

        stack.settle()
        progress = _get(stack, started["scanId"]).json()
        assert (progress["finished"], progress["done"], progress["cacheCount"]) == (True, 3, 3)
        assert progress["outcomes"] == {"remediated": 2, "compliant": 1}
        assert progress["scope"].lower() == f"/subscriptions/{SUB}".lower() and progress["dryRun"] is False

        records = stack.records()
        finished = [r for r in records if r["kind"] == "scan-finished"]
        assert len(finished) == 1 and finished[0]["scan_id"] == started["scanId"]
        assert finished[0]["outcomes"] == progress["outcomes"]
        # The busy cache was deferred through the queue first, and still counted once.
        assert "deferred" in stack.kinds("http-busy")
        checkpoints = read_jsonl(Path(f"{stack.audit_file}.checkpoints.jsonl"))
        assert checkpoints, "the last cache done must write a signed checkpoint"
        out = io.StringIO()
        assert commands.audit_verify(file=str(stack.audit_file), key_fingerprint=key_fingerprint(key), out=out) == 0
        assert "0 checkpoint(s)" not in out.getvalue(), out.getvalue()


def test_refused_requests_get_a_clear_4xx_and_cost_no_arm_call(tmp_path: Path) -> None:
    other_sub = "11111111-2222-4333-8444-555555555555"
    with running_stack(tmp_path, [sample_cache("http-refused", properties={"enableNonSslPort": True})]) as stack:
        scope = {"scope": f"/subscriptions/{SUB}"}
        cases: list[tuple[requests.Response, int, str]] = [
            (_post(stack, scope, key=None), 401, ""),
            (_post(stack, scope, key="not-the-key"), 401, ""),
            (_post(stack, {"scope": f"/subscriptions/{other_sub}"}), 403, "WARDEN_SUBSCRIPTIONS"),
            (_post(stack, {"scope": f"/subscriptions/{other_sub}/resourceGroups/rg-payments"}), 403,
             "WARDEN_SUBSCRIPTIONS"),
            (_post(stack, raw=b"{not json"), 400, "JSON"),
            (_post(stack, ["not", "an", "object"]), 400, "object"),
            (_post(stack, {**scope, "force": True}), 400, "force"),
            (_post(stack, {**scope, "dryRun": "yes"}), 400, "dryRun"),
            (_post(stack, {}), 400, "scope"),
            (_post(stack, {"scope": f"/subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.Storage/"
                                    "storageAccounts/acct"}), 400, "scope"),
            (_post(stack, {"scope": f"/subscriptions/{SUB}/resourceGroups/../rg-payments"}), 400, "scope"),
            (_get(stack, str(uuid.uuid4())), 404, "no scan"),
            (_get(stack, "not-a-scan-id"), 400, "scan id"),
            (_get(stack, str(uuid.uuid4()), key=False), 401, ""),
        ]
        for reply, status, message in cases:
            assert reply.status_code == status, (reply.request.method, reply.request.body, reply.text)
            if message:
                assert message in reply.json()["error"], reply.text
            assert "Traceback" not in reply.text
        assert _warden_calls(stack) == []
        assert not [r for r in stack.records() if r["kind"] == "scan-started"]


def test_dry_run_scan_of_one_cache_writes_nothing_and_names_the_request_as_source(tmp_path: Path) -> None:
    fleet = [sample_cache("http-dry", properties={"enableNonSslPort": True, "minimumTlsVersion": "1.0"}),
             sample_cache("http-untouched", properties={"enableNonSslPort": True}, firewall_rules=[OFFICE])]
    with running_stack(tmp_path, fleet) as stack:
        reply = _post(stack, {"scope": fleet[0]["id"], "dryRun": True})
        assert reply.status_code == 202, reply.text
        assert reply.json()["cacheCount"] == 1
        stack.settle()

        progress = _get(stack, reply.json()["scanId"]).json()
        assert (progress["finished"], progress["dryRun"], progress["outcomes"]) == (True, True, {"dry-run": 1})
        assert progress["dryRunSources"] == ["request:http-request"] == reply.json()["dryRunSources"]
        assert [c for c in _warden_calls(stack) if c["method"] in ("PUT", "PATCH", "DELETE")] == []
        assert not [c for c in _warden_calls(stack) if "http-untouched" in c["path"]]
        props = stack.cache("http-dry")["properties"]
        assert (props["enableNonSslPort"], props["minimumTlsVersion"]) == (True, "1.0")
        assert stack.cache("http-dry")["firewallRules"] == []
        skipped = [r for r in stack.records() if r["kind"] == "skipped-dry-run"]
        assert {r["rule"] for r in skipped} >= {"firewall"} and any("non-ssl-port" in r["rule"] for r in skipped)
        assert all(r["dry_run_source"] == "request:http-request" for r in skipped), skipped
