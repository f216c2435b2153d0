"""Issue 5, loop protection: the flap guard, the blast-radius breaker (with its CLI), counters under
concurrency, open intents, and dry-run / `audit` effects writing nothing on any path."""

from __future__ import annotations

import json
import threading
from pathlib import Path

from azure.mgmt.redis.models import RedisFirewallRule, RedisUpdateParameters

from emulator.testing import sample_cache
from remediators.engine.reconcile import Outcome
from remediators.resource_ids import parse_cache_id
from remediators.state.breaker import FLAP_PARTITION, Limits, SafetyLimits
from remediators.state.limits import SafetyGuard, breaker_status

from .rig import OFFICE, baseline, engine_rig


def _drifted(name: str) -> dict:
    return sample_cache(name, properties={"enableNonSslPort": True}, firewall_rules=[OFFICE])


def _jane_opens_the_plaintext_port(rig, name: str) -> None:
    rig.jane().redis.begin_update("rg-payments", name, RedisUpdateParameters(enable_non_ssl_port=True)).result()


def test_a_rule_that_keeps_drifting_back_is_no_longer_fought_until_the_window_passes(tmp_path: Path) -> None:
    settings = {"WARDEN_FLAP_MAX": "2", "WARDEN_FLAP_WINDOW_SECONDS": "3600"}
    with engine_rig(tmp_path, [_drifted("flappy-cache")], settings=settings) as rig:
        assert rig.reconcile("flappy-cache").outcome is Outcome.REMEDIATED  # fix 1
        _jane_opens_the_plaintext_port(rig, "flappy-cache")
        rig.clock.advance(60)
        assert rig.reconcile("flappy-cache").outcome is Outcome.REMEDIATED  # fix 2 = K
        for _ in range(2):  # drifting back a third and fourth time within the window: not fought
            _jane_opens_the_plaintext_port(rig, "flappy-cache")
            rig.clock.advance(60)
            assert rig.reconcile("flappy-cache").outcome is Outcome.BLOCKED
        assert rig.cache("flappy-cache")["properties"]["enableNonSslPort"] is True
        patches = [w for w in rig.warden_writes("flappy-cache") if w["method"] == "PATCH"]
        assert len(patches) == 2
        alerts = rig.records("alert", "flappy-cache")
        assert len(alerts) == 1 and "flapping" in alerts[0]["detail"] and alerts[0]["rule"] == "non-ssl-port"
        blocked = rig.records("blocked", "flappy-cache")
        assert [b["outcome"]["code"] for b in blocked] == ["FlapGuardOpen", "FlapGuardOpen"]
        assert all(r["rule"] == "non-ssl-port" for r in blocked)

        rig.clock.advance(3600)  # the window has passed: the fight resumes
        assert rig.reconcile("flappy-cache").outcome is Outcome.REMEDIATED
        assert rig.cache("flappy-cache")["properties"]["enableNonSslPort"] is False


def test_other_rules_on_a_flapping_cache_are_still_fixed(tmp_path: Path) -> None:
    with engine_rig(tmp_path, [_drifted("mixed-cache")], settings={"WARDEN_FLAP_MAX": "1"}) as rig:
        assert rig.reconcile("mixed-cache").outcome is Outcome.REMEDIATED
        _jane_opens_the_plaintext_port(rig, "mixed-cache")
        rig.jane().firewall_rules.create_or_update("rg-payments", "mixed-cache", "allow_all",
                                                   RedisFirewallRule(start_ip="0.0.0.0", end_ip="255.255.255.255"))
        assert rig.reconcile("mixed-cache").outcome is Outcome.BLOCKED
        after = rig.cache("mixed-cache")
        assert after["properties"]["enableNonSslPort"] is True  # the flapping rule is left alone...
        assert {r["name"] for r in after["firewallRules"]} == {"office"}  # ...the firewall is still fixed
        assert len([w for w in rig.warden_writes("mixed-cache") if w["method"] == "PATCH"]) == 1


def test_the_breaker_stops_all_writes_until_an_operator_resets_it(tmp_path: Path) -> None:
    fleet = [_drifted(f"fleet-{i}") for i in range(4)]
    with engine_rig(tmp_path, fleet, settings={"WARDEN_BREAKER_MAX_WRITES": "2"}) as rig:
        outcomes = [rig.reconcile(f"fleet-{i}").outcome for i in range(4)]
        assert outcomes == [Outcome.REMEDIATED, Outcome.REMEDIATED, Outcome.DEFERRED, Outcome.DEFERRED]
        assert len(rig.warden_writes()) == 2
        alerts = rig.records("alert")
        assert len(alerts) == 1 and "breaker tripped" in alerts[0]["detail"]
        deferred = rig.records("deferred")
        assert len(deferred) == 2 and all(d["detail"].startswith("breaker-open") for d in deferred)

        rig.clock.advance(7 * 86400)  # time alone never closes it
        assert rig.reconcile("fleet-2").outcome is Outcome.DEFERRED
        assert len(rig.warden_writes()) == 2 and len(rig.records("alert")) == 1

        status = rig.cli("breaker", "status")
        assert status.returncode == 3, status.stderr
        assert json.loads(status.stdout)["tripped"] is True
        reset = rig.cli("breaker", "reset", "--reason", "reviewed the trail: a real fleet-wide drift")
        assert reset.returncode == 0, reset.stderr
        assert json.loads(reset.stdout)["after"]["tripped"] is False
        record = rig.records("breaker-reset")
        assert len(record) == 1 and record[0]["reason"].startswith("reviewed the trail")
        assert record[0]["breaker"]["before"]["tripped"] is True
        assert rig.cli("breaker", "status").returncode == 0

        assert rig.reconcile("fleet-2").outcome is Outcome.REMEDIATED
        assert rig.reconcile("fleet-3").outcome is Outcome.REMEDIATED
        assert all(rig.cache(f"fleet-{i}")["properties"]["enableNonSslPort"] is False for i in range(4))


def test_breaker_reset_without_a_reason_is_refused(tmp_path: Path) -> None:
    with engine_rig(tmp_path, []) as rig:
        result = rig.cli("breaker", "reset")
        assert result.returncode == 2 and "--reason" in result.stderr
        assert not rig.records("breaker-reset")


def test_concurrent_workers_count_every_write_exactly_once(tmp_path: Path) -> None:
    with engine_rig(tmp_path, []) as rig:
        guard = SafetyGuard(rig.rt.state, rig.rt.audit, SafetyLimits(breaker=Limits(25, 3600)), clock=rig.clock)
        cache = parse_cache_id("/subscriptions/6f1c7e3a-2b4d-4c1e-9f3a-0d2b8e5a7c11/resourceGroups/rg/providers/"
                               "Microsoft.Cache/Redis/c1")
        answers: list[str | None] = []
        lock = threading.Lock()

        def worker() -> None:
            for _ in range(10):
                held = guard.take_write_slot(cache, {"reason": "test"})
                with lock:
                    answers.append(held)

        threads = [threading.Thread(target=worker) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert answers.count(None) == 25  # 40 attempts against a limit of 25: exactly 25 went ahead
        counter = breaker_status(rig.rt.state)
        assert counter.tripped and counter.count == 25
        assert len(rig.records("alert")) == 1  # exactly one worker saw the trip


def test_an_open_intent_left_by_a_dead_writer_is_resumed_on_the_next_reconcile(tmp_path: Path) -> None:
    with engine_rig(tmp_path, [_drifted("crashed-cache")]) as rig:
        cache = rig.item("crashed-cache").cache
        rig.rt.engine.safety.open_intent(cache, rules=["non-ssl-port"], step="PATCH cache properties",
                                         correlation_id="dead-writer-correlation")
        assert rig.reconcile("crashed-cache").outcome is Outcome.REMEDIATED
        resumed = rig.records("resumed", "crashed-cache")
        assert len(resumed) == 1 and resumed[0]["intent"]["arm_correlation_id"] == "dead-writer-correlation"
        kinds = [r["kind"] for r in rig.records(cache="crashed-cache")]
        assert kinds.index("resumed") < kinds.index("remediation-started")
        assert rig.rt.state.open_intent_of(cache) is None  # closed after the outcome record
        assert rig.reconcile("crashed-cache").outcome is Outcome.COMPLIANT
        assert len(rig.records("resumed")) == 1


def test_dry_run_and_audit_effects_write_nothing_on_any_path(tmp_path: Path) -> None:
    fleet = [
        _drifted("dry-plain"),
        sample_cache("dry-refused", properties={"minimumTlsVersion": "1.1"}, firewall_rules=[OFFICE],
                     knobs={"faults": [{"preset": "scopeLocked", "method": "PATCH", "times": 5}]}),
        sample_cache("dry-open", firewall_rules=[("allow_all", "0.0.0.0", "255.255.255.255")]),
        sample_cache("dry-throttled", properties={"enableNonSslPort": True}, firewall_rules=[OFFICE],
                     knobs={"faults": [{"preset": "throttled", "retryAfter": 30, "method": "GET", "times": 1}]}),
    ]
    settings = {"WARDEN_DRY_RUN": "true", "WARDEN_BREAKER_MAX_WRITES": "1", "WARDEN_FLAP_MAX": "1"}
    with engine_rig(tmp_path, fleet, settings=settings) as rig:
        for _ in range(3):
            for entry in fleet:
                rig.reconcile(entry["name"])
                rig.clock.advance(10)
        assert rig.warden_writes() == []
        assert rig.records("skipped-dry-run")
        assert all("app-setting:WARDEN_DRY_RUN" in r["dry_run_source"] for r in rig.records("skipped-dry-run"))
        assert not rig.records("remediation-started") and not rig.records("alert")
        state = rig.rt.state
        assert not breaker_status(state).tripped and breaker_status(state).count == 0
        assert not list(state._table.query_entities("PartitionKey eq @pk", parameters={"pk": FLAP_PARTITION}))
        assert not [row for row in state._table.query_entities("PartitionKey eq 'cache'") if row.get("Intent")]

    # The same drift with every rule's effect `audit` (not dry-run): detected, never written.
    audit_only = baseline(non_ssl_port="audit", tls_min_version="audit", firewall="audit")
    with engine_rig(tmp_path / "audit", fleet, settings={"WARDEN_BASELINE": audit_only}) as rig:
        for entry in fleet:
            rig.reconcile(entry["name"])
        assert rig.warden_writes() == []
        assert rig.records("detected") and not rig.records("remediation-started")
        assert breaker_status(rig.rt.state).count == 0

