"""Issue 2's end-to-end behaviour: real SDK clients over HTTPS against the emulator, Azurite queues, the
real `function_app` in the dev host. Assertions are on ARM state, the emulator's request log and the audit
trail, never on timings."""

from __future__ import annotations

import base64
import json
import uuid
from pathlib import Path

import requests
from azure.mgmt.redis.models import RedisFirewallRule, RedisUpdateParameters

from emulator.principals import JANE_OBJECT_ID, WARDEN_CLIENT_ID
from emulator.testing import sample_cache
from remediators.ipranges import AddressSet

from .stack import ALLOWED, SUB, running_stack

OFFICE = ("office", "81.2.69.0", "81.2.69.255")


def warden_calls(stack) -> list[dict]:
    return [r for r in stack.arm.requests() if (r["caller"] or {}).get("appid") == WARDEN_CLIENT_ID]


def scan(stack, scope: str = f"/subscriptions/{SUB}", **extra) -> dict:
    resp = requests.post(f"{stack.host.http_base_url}/api/scans", json={"scope": scope, **extra},
                         headers={"x-functions-key": stack.host.function_key}, timeout=30)
    assert resp.status_code == 202, resp.text
    return resp.json()


def test_a_persons_drift_is_fixed_and_our_own_writes_cost_no_arm_call(tmp_path: Path) -> None:
    with running_stack(tmp_path, [sample_cache("orders-cache", firewall_rules=[OFFICE])]) as stack:
        jane = stack.jane()
        jane.redis.begin_update("rg-payments", "orders-cache", RedisUpdateParameters(enable_non_ssl_port=True)).result()
        stack.settle()

        assert stack.cache("orders-cache")["properties"]["enableNonSslPort"] is False
        records = stack.records()
        detected = [r for r in records if r["kind"] == "detected" and r["rule"] == "non-ssl-port"]
        assert detected and detected[0]["trigger"]["actor"]["oid"] == JANE_OBJECT_ID
        assert detected[0]["drift_actor"] is not None
        assert "upn" not in json.dumps(detected[0]["trigger"])  # UK GDPR minimisation by default
        assert [r["kind"] for r in records if r.get("rule") == "non-ssl-port"][-2:] == [
            "remediation-started", "remediated"]
        own = [r for r in records if r["kind"] == "ignored-event" and "own write" in r["detail"]]
        assert own, "our PATCH came back as an event and must be recognised"

        # Replaying one of our own write events must not cost a single ARM call.
        own_event = next(e for e in stack.arm.events() if e["data"]["claims"].get("appid") == WARDEN_CLIENT_ID)
        replay = dict(own_event, id=str(uuid.uuid4()))
        before = len(warden_calls(stack))
        stack.queue("warden-events").send_message(base64.b64encode(json.dumps(replay).encode()).decode())
        stack.settle()
        assert len(warden_calls(stack)) == before
        assert sum(1 for r in stack.records() if r["kind"] == "ignored-event" and "own write" in r["detail"]) > len(own)


def test_patch_body_holds_only_the_changed_fields_in_one_request(tmp_path: Path) -> None:
    fleet = [sample_cache("legacy-cache", properties={"enableNonSslPort": True, "minimumTlsVersion": "1.0"},
                          firewall_rules=[OFFICE])]
    with running_stack(tmp_path, fleet) as stack:
        scan(stack)
        stack.settle()
        patches = [r for r in warden_calls(stack) if r["method"] == "PATCH"]
        assert [p["body"] for p in patches] == [
            {"properties": {"enableNonSslPort": False, "minimumTlsVersion": "1.2"}}]
        props = stack.cache("legacy-cache")["properties"]
        assert (props["enableNonSslPort"], props["minimumTlsVersion"], props["publicNetworkAccess"]) == (
            False, "1.2", "Enabled")
        # The confirming pass re-reads the cache but not the firewall list a PATCH cannot have changed.
        lists = [r for r in warden_calls(stack)
                 if r["method"] == "GET" and r["path"].lower().endswith("/firewallrules")]
        assert len(lists) == 1
        assert stack.kinds("legacy-cache").count("remediated") == 2  # one per rule, one PATCH


def _admitted(rules: dict[str, tuple[str, str]]) -> AddressSet:
    if not rules:
        return AddressSet.from_ranges(["0.0.0.0-255.255.255.255"])
    return AddressSet.from_pairs(list(rules.values()))


def test_open_caches_are_narrowed_and_never_lose_their_last_rule(tmp_path: Path) -> None:
    fleet = [
        sample_cache("norules-cache"),
        sample_cache("wideopen-cache", firewall_rules=[("allow_all", "0.0.0.0", "255.255.255.255")]),
        sample_cache("mixed-cache", firewall_rules=[OFFICE, ("too_wide", "81.0.0.0", "81.255.255.255")]),
    ]
    allowed = AddressSet.from_ranges(ALLOWED)
    with running_stack(tmp_path, fleet) as stack:
        scan(stack)
        stack.settle()
        for entry in fleet:
            name = entry["name"]
            final = {r["name"]: (r["properties"]["startIP"], r["properties"]["endIP"])
                     for r in stack.cache(name)["firewallRules"]}
            assert final and _admitted(final) <= allowed, (name, final)
            # Replay our firewall writes in order: no intermediate list is empty (= all of IPv4) or wider.
            rules = {r["name"]: (r["properties"]["startIP"], r["properties"]["endIP"])
                     for r in entry.get("firewallRules", [])}
            start = _admitted(rules)
            for call in warden_calls(stack):
                if f"/redis/{name}/firewallrules/" not in call["path"].lower() or call["status"] >= 300:
                    continue
                rule_name = call["path"].rsplit("/", 1)[-1]
                if call["method"] == "PUT":
                    rules[rule_name] = (call["body"]["properties"]["startIP"], call["body"]["properties"]["endIP"])
                elif call["method"] == "DELETE":
                    rules.pop(rule_name)
                else:
                    continue
                assert rules, f"{name}: the firewall list was emptied"
                assert _admitted(rules) <= start, f"{name}: a step admitted a new address"


def test_busy_cache_is_deferred_through_the_queue_and_converges(tmp_path: Path) -> None:
    fleet = [sample_cache("busy-cache", properties={"enableNonSslPort": True}, firewall_rules=[OFFICE],
                          knobs={"busyForGets": 2})]
    with running_stack(tmp_path, fleet) as stack:
        scan(stack)
        stack.settle()
        kinds = stack.kinds("busy-cache")
        assert "deferred" in kinds and "remediated" in kinds
        assert kinds.index("deferred") < kinds.index("remediated")
        deferred = next(r for r in stack.records() if r["kind"] == "deferred")
        assert deferred["retry_in_seconds"] >= 1 and "Updating" in deferred["detail"]
        assert stack.cache("busy-cache")["properties"]["enableNonSslPort"] is False


def test_slow_long_running_patch_is_deferred_not_waited_for(tmp_path: Path) -> None:
    fleet = [sample_cache("slow-cache", properties={"minimumTlsVersion": "1.1"}, firewall_rules=[OFFICE],
                          knobs={"lroPolls": 3})]
    with running_stack(tmp_path, fleet, settings={"WARDEN_LRO_WAIT_SECONDS": "0"}) as stack:
        scan(stack)
        stack.settle()
        kinds = stack.kinds("slow-cache")
        assert kinds.count("remediation-started") == 1, kinds  # one PATCH, then waiting through the queue
        assert "deferred" in kinds
        assert stack.cache("slow-cache")["properties"]["minimumTlsVersion"] == "1.2"
        assert len([r for r in warden_calls(stack) if r["method"] == "PATCH"]) == 1


def test_jane_opens_a_firewall_rule_to_everything(tmp_path: Path) -> None:
    with running_stack(tmp_path, [sample_cache("orders-cache", firewall_rules=[OFFICE])]) as stack:
        stack.jane().firewall_rules.create_or_update(
            "rg-payments", "orders-cache", "allow_all", RedisFirewallRule(start_ip="0.0.0.0", end_ip="255.255.255.255"))
        stack.settle()
        names = {r["name"] for r in stack.cache("orders-cache")["firewallRules"]}
        assert names == {"office"}
        detected = next(r for r in stack.records() if r["kind"] == "detected" and r["rule"] == "firewall")
        assert detected["drift_actor"].get("oid") == JANE_OBJECT_ID  # her write touched the offending rule
