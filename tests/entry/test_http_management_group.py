"""`POST /api/scans` with a management-group scope, and the nightly timer with WARDEN_NIGHTLY_MANAGEMENT_GROUP,
through the dev host running the real function_app against the emulator (ARG included) and Azurite."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import requests

from emulator.principals import WARDEN_CLIENT_ID
from emulator.testing import cache_id, sample_cache
from tests.integration.stack import SUB, Stack, running_stack

OFFICE = ("office", "81.2.69.0", "81.2.69.255")
SUB_B = "0b7e4a52-3c1d-4f6e-8a9b-1c2d3e4f5a6b"
FOREIGN = "11111111-2222-4333-8444-555555555555"
MG = "/providers/Microsoft.Management/managementGroups/mg-payments"
GROUPS = {"emulator_options": {"management_groups": {"mg-payments": [SUB, SUB_B, FOREIGN]}},
          "settings": {"WARDEN_SUBSCRIPTIONS": f"{SUB},{SUB_B}"}}


def _fleet() -> list[dict[str, Any]]:
    return [sample_cache(n, subscription_id=s, properties={"enableNonSslPort": True}, firewall_rules=[OFFICE])
            for n, s in (("mg-http-a", SUB), ("mg-http-b", SUB_B), ("mg-http-foreign", FOREIGN))]


def _post(stack: Stack, body: Any) -> requests.Response:
    return requests.post(f"{stack.host.http_base_url}/api/scans", data=json.dumps(body).encode(),
                         headers={"x-functions-key": stack.host.function_key}, timeout=30)


def _warden(stack: Stack) -> list[dict[str, Any]]:
    return [r for r in stack.arm.requests() if (r["caller"] or {}).get("appid") == WARDEN_CLIENT_ID]


def test_a_management_group_scan_is_queued_and_bad_scopes_get_a_clear_400(tmp_path: Path) -> None:
    with running_stack(tmp_path, _fleet(), **GROUPS) as stack:  # type: ignore[arg-type]
        cases = [
            ({"scope": "/providers/Microsoft.Management/managementGroups/mg.."}, "not ending in '.'"),
            ({"scope": "/providers/Microsoft.Management/managementGroups/a/b"}, "management group id must be"),
            ({"scope": "/providers/Microsoft.Management/managementGroups/"}, "management group id must be"),
            ({"scope": "/providers/Microsoft.Management/managementGroups/mg%2F.."}, "encoded or reserved"),
            ({"scope": "/providers/Microsoft.Management/managementGroups/p\u0430yments"}, "non-ASCII"),
            ({"scope": "/providers/Microsoft.Storage/storageAccounts/x"}, "management group id must be"),
            ({"scope": ["/subscriptions/" + SUB]}, "resource id must be a string"),
            ({"dryRun": True}, "scope: required"),
        ]
        for body, message in cases:
            reply = _post(stack, body)
            assert reply.status_code == 400 and message in reply.json()["error"], (body, reply.text)
            assert "managementGroups/{name}" in reply.json()["error"]  # each 400 says what is accepted
        assert _warden(stack) == []

        unknown = _post(stack, {"scope": "/providers/Microsoft.Management/managementGroups/mg-nowhere"})
        assert unknown.status_code == 502 and "listing caches failed" in unknown.json()["error"]

        reply = _post(stack, {"scope": MG})
        assert reply.status_code == 202 and reply.json()["cacheCount"] == 2, reply.text
        stack.settle()
        progress = requests.get(f"{stack.host.http_base_url}/api/scans/{reply.json()['scanId']}",
                                headers={"x-functions-key": stack.host.function_key}, timeout=30).json()
        assert (progress["finished"], progress["outcomes"], progress["scope"]) == (True, {"remediated": 2}, MG)
        foreign = stack.arm.cache(cache_id("mg-http-foreign", subscription_id=FOREIGN))
        assert foreign["properties"]["enableNonSslPort"] is True
        assert not [r for r in _warden(stack) if FOREIGN in r["path"]]


def test_the_nightly_timer_scans_the_configured_management_group(tmp_path: Path) -> None:
    options: dict[str, Any] = {**GROUPS, "settings": {**GROUPS["settings"],
                                                     "WARDEN_NIGHTLY_MANAGEMENT_GROUP": "mg-payments"}}
    with running_stack(tmp_path, _fleet(), **options) as stack:
        stack.host.fire_timer("nightly_scan")
        stack.settle()
        started = [r for r in stack.records() if r["kind"] == "scan-started"]
        assert [(r["detail"], r["cache_count"]) for r in started] == [(f"timer scan of {MG}", 2)]
        graph = [r for r in _warden(stack) if "resourcegraph" in r["path"].lower()]
        assert len(graph) == 2  # the caches, and the scheduled query rules auth-alerts judges
        assert stack.cache("mg-http-a")["properties"]["enableNonSslPort"] is False
        assert stack.arm.cache(cache_id("mg-http-b", subscription_id=SUB_B))["properties"]["enableNonSslPort"] is False
