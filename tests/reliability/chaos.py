"""The chaos run shared by `test_chaos.py` (50 caches, in `make test`) and `bench/chaos.py` (500 caches,
realistic latency): a compliant fleet, Jane Doe drifting it through her own SDK client, replayed and
duplicated Event Grid deliveries, and a seeded share of the warden's ARM calls failing (429 with
Retry-After, 500, 503, 409 busy, connection resets). Returns everything needed to check the result against
the emulator's request log; the checks themselves live in `check_chaos`.
"""

from __future__ import annotations

import base64
import io
import json
import random
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from azure.core.exceptions import HttpResponseError
from azure.mgmt.redis.models import RedisFirewallRule, RedisUpdateParameters

from emulator.faults import ChaosSpec, labels
from emulator.principals import JANE_OBJECT_ID, WARDEN_CLIENT_ID
from emulator.testing import sample_cache
from remediators.arm import bodies as arm_bodies
from remediators.audit.commands import audit_verify
from remediators.baseline import load_baseline
from remediators.ipranges import AddressSet
from remediators.models import Effect, Status

from .rig import OFFICE, HostStack, baseline, host_stack

WRITES = ("PUT", "PATCH", "DELETE")


@dataclass(frozen=True)
class ChaosConfig:
    caches: int = 50
    jane_writes: int = 200
    duplicates: int = 60  # exact redeliveries of Jane's events (same event id)
    replays: int = 40  # the same events replayed under new ids (e.g. from the dead-letter container)
    fault_rate: float = 0.2
    seed: int = 20260105
    latency: float = 0.0  # seconds added to every ARM answer
    drivers: int = 2  # Jane's concurrent writers
    settle_timeout: float = 300.0


@dataclass
class ChaosRun:
    config: ChaosConfig
    fleet: list[dict[str, Any]]
    records: list[dict[str, Any]]
    requests: list[dict[str, Any]]
    finals: dict[str, dict[str, Any] | None]
    jane_ok: int
    jane_refused: int
    duplicates_sent: int
    replays_sent: int
    injected: dict[str, int]
    seconds_to_converge: float
    settled: bool
    poisoned: int
    verify_exit: int
    verify_output: str
    audit_file: Path
    notes: list[str] = field(default_factory=list)

    def warden(self) -> list[dict[str, Any]]:
        return [r for r in self.requests if (r.get("caller") or {}).get("appid") == WARDEN_CLIENT_ID]


def chaos_fleet(n: int) -> list[dict[str, Any]]:
    return [sample_cache(f"chaos-{i:03d}", firewall_rules=[OFFICE]) for i in range(n)]


def _drift(rng: random.Random, jane: Any, name: str) -> None:
    """One of the drifts people really make: the plaintext port, an allow-all or too-wide firewall rule."""
    kind = rng.choice(("non-ssl", "allow-all", "too-wide"))
    if kind == "non-ssl":
        jane.redis.begin_update("rg-payments", name, RedisUpdateParameters(enable_non_ssl_port=True)).result()
    elif kind == "allow-all":
        jane.firewall_rules.create_or_update("rg-payments", name, f"allow_all_{rng.randrange(3)}",
                                             RedisFirewallRule(start_ip="0.0.0.0", end_ip="255.255.255.255"))
    else:
        jane.firewall_rules.create_or_update("rg-payments", name, f"partner_{rng.randrange(3)}",
                                             RedisFirewallRule(start_ip="81.0.0.0", end_ip="81.255.255.255"))


def run_chaos(tmp_path: Path, config: ChaosConfig) -> ChaosRun:
    fleet = chaos_fleet(config.caches)
    spec = ChaosSpec(rate=config.fault_rate, seed=config.seed, only_appids=frozenset({WARDEN_CLIENT_ID}))
    settings = {"WARDEN_FLAP_MAX": "1000", "WARDEN_BREAKER_MAX_WRITES": "100000"}
    names = [c["name"] for c in fleet]
    with host_stack(tmp_path, fleet, settings=settings, chaos=spec, latency=config.latency) as stack:
        started = time.monotonic()
        ok, refused = _drive_jane(stack, names, config)
        jane_events = [e for e in stack.arm.events()
                       if (e.get("data") or {}).get("claims", {}).get(_OID_CLAIM) == JANE_OBJECT_ID
                       or (e.get("data") or {}).get("claims", {}).get("oid") == JANE_OBJECT_ID]
        rng = random.Random(config.seed + 1)
        events = stack.queue("warden-events")
        dupes = [rng.choice(jane_events) for _ in range(config.duplicates)] if jane_events else []
        replays = [dict(rng.choice(jane_events), id=f"replay-{i}-{rng.getrandbits(64):x}")
                   for i in range(config.replays)] if jane_events else []
        settled_once = stack.host.run_until_idle(config.settle_timeout)  # originals first: dedup has their ids
        for event in [*dupes, *replays]:
            events.send_message(base64.b64encode(json.dumps(event).encode("utf-8")).decode("ascii"))
        settled = stack.host.run_until_idle(config.settle_timeout) and settled_once
        seconds = time.monotonic() - started
        poisoned = sum(_depth(stack.queue(q)) for q in ("warden-work-poison", "warden-events-poison"))
        finals = {name: stack.arm.cache(c["id"]) for name, c in zip(names, fleet, strict=True)}
        out = io.StringIO()
        verify_exit = audit_verify(file=str(stack.audit_file), out=out, err=out)
        return ChaosRun(
            config=config, fleet=fleet, records=stack.records(), requests=stack.arm.requests(), finals=finals,
            jane_ok=ok, jane_refused=refused, duplicates_sent=len(dupes), replays_sent=len(replays),
            injected=labels(stack.arm.faults.injected), seconds_to_converge=seconds, settled=settled,
            poisoned=poisoned, verify_exit=verify_exit, verify_output=out.getvalue(), audit_file=stack.audit_file,
        )


_OID_CLAIM = "http://schemas.microsoft.com/identity/claims/objectidentifier"


def _depth(queue: Any) -> int:
    try:
        return queue.get_queue_properties().approximate_message_count or 0
    except HttpResponseError:
        return 0


def _drive_jane(stack: HostStack, names: Sequence[str], config: ChaosConfig) -> tuple[int, int]:
    """Jane's writes from `drivers` threads, each with its own seeded plan; ARM may refuse some (409 while
    the warden's own update runs): those produce no event and are counted as refused."""
    counts = {"ok": 0, "refused": 0}
    lock = threading.Lock()
    per = [config.jane_writes // config.drivers + (1 if i < config.jane_writes % config.drivers else 0)
           for i in range(config.drivers)]

    def drive(index: int, writes: int) -> None:
        rng = random.Random(f"{config.seed}-jane-{index}")
        jane = stack.jane()
        for _ in range(writes):
            try:
                _drift(rng, jane, rng.choice(names))
                outcome = "ok"
            except HttpResponseError as exc:
                if exc.status_code != 409:
                    raise
                outcome = "refused"
            with lock:
                counts[outcome] += 1

    threads = [threading.Thread(target=drive, args=(i, n), name=f"jane-{i}") for i, n in enumerate(per)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return counts["ok"], counts["refused"]


# ---------------------------------------------------------------------------------------------- checks


def converged(body: Mapping[str, Any] | None) -> list[str]:
    """What is still wrong with a cache's final state under the chaos baseline (empty = converged)."""
    if body is None:
        return ["cache vanished"]
    snap = arm_bodies.snapshot({k: v for k, v in body.items() if k not in ("firewallRules", "diagnosticSettings")},
                               firewall={"value": body.get("firewallRules", [])})
    findings = load_baseline(baseline()).evaluate(snap, now=datetime.now(UTC))
    return [f"{f.rule}: {f.reason}" for f in findings
            if f.effect is Effect.REMEDIATE and f.status in (Status.NON_COMPLIANT, Status.UNKNOWN)]


def firewall_never_emptied_or_widened(run: ChaosRun) -> list[str]:
    """Replay every successful firewall write in log order: the warden's never empty a list or admit an
    address outside what was admitted before its write."""
    problems: list[str] = []
    rules: dict[str, dict[str, tuple[str, str]]] = {
        c["id"].lower(): {r["name"].lower(): (r["properties"]["startIP"], r["properties"]["endIP"])
                          for r in c.get("firewallRules", [])} for c in run.fleet}
    allowed_all = AddressSet.from_ranges(["0.0.0.0-255.255.255.255"])
    for call in run.requests:
        path = call["path"].lower()
        if "/firewallrules/" not in path or call["method"] not in ("PUT", "DELETE") or call["status"] >= 300:
            continue
        cache, name = path.split("/firewallrules/")[0], path.rsplit("/", 1)[-1]
        current = rules.setdefault(cache, {})
        before = AddressSet.from_pairs(list(current.values())) if current else allowed_all
        if call["method"] == "PUT":
            props = call["body"]["properties"]
            current[name] = (props["startIP"], props["endIP"])
        else:
            current.pop(name, None)
        if (call.get("caller") or {}).get("appid") != WARDEN_CLIENT_ID:
            continue
        if not current:
            problems.append(f"{cache}: the warden emptied the firewall list")
        elif not AddressSet.from_pairs(list(current.values())) <= before:
            problems.append(f"{cache}: a warden write admitted a new address")
    return problems


def reconcile_counts(run: ChaosRun) -> dict[str, Any]:
    """Audit records against the emulator's request log, by ARM request id and by cache.

    Every write ARM answered 2xx (applied, or a PATCH accepted with 202) must be named by a `remediated`
    record, with no exemption: a PATCH whose status polls went unanswered (a 429, a 5xx, a reset after the
    pipeline's retries) is `remediation-pending`, then `remediated` with the PATCH's request id once a later
    reconcile reads the operation's status URL (Succeeded, even if Jane has since undone the change). It was
    once recorded `remediation-failed` and excused here by correlation id, which missed a reset on the last
    poll (the record then named the PATCH): a write ARM applied was never on record as made. That schedule,
    fixed: tests/engine/test_engine_faults.py::
    test_a_patch_whose_status_polls_go_unanswered_is_pending_then_recorded_remediated.
    A `remediation-failed` may name a failed read made inside a write step (the re-read right before a
    DELETE) instead of a failed write."""
    warden = run.warden()
    by_request = {c["request_id"]: c for c in warden}
    # Status 0 = a connection reset (no answer); the SDK retries some failures itself, so only the last
    # answer of a call reaches the trail: every success must be there, every recorded failure must exist.
    ok_writes = {c["request_id"] for c in warden if c["method"] in WRITES and 200 <= c["status"] < 300}
    failed_writes = {c["request_id"] for c in warden if c["method"] in WRITES and not 200 <= c["status"] < 300}
    remediated_ids = {r["request_id"] for r in run.records if r["kind"] == "remediated"}
    failed_ids = {r["request_id"] for r in run.records if r["kind"] == "remediation-failed" and r.get("request_id")}
    read_failed = {i for i in failed_ids if i in by_request and by_request[i]["method"] == "GET"
                   and not 200 <= by_request[i]["status"] < 300}
    jane_caches = {c["path"].lower().split("/firewallrules/")[0] for c in run.requests
                   if (c.get("caller") or {}).get("oid") == JANE_OBJECT_ID and c["method"] in WRITES
                   and 200 <= c["status"] < 300}
    detected_caches = {r["cache_id"].lower() for r in run.records if r["kind"] == "detected"
                       and r.get("effect") == "remediate"}
    deferred = [r for r in run.records if r["kind"] == "deferred"]
    deferred_arm = [r for r in deferred if r.get("outcome")]
    return {
        "remediated_records_match_successful_writes": remediated_ids == ok_writes,
        "unrecorded_writes": sorted(ok_writes - remediated_ids),
        "phantom_remediations": sorted(remediated_ids - ok_writes),
        "pending": sum(1 for r in run.records if r["kind"] == "remediation-pending"),
        "failed_records_match_failed_writes": failed_ids - read_failed <= failed_writes,
        "failed_writes_without_record": sorted(failed_writes - failed_ids),
        "detected_caches": len(detected_caches),
        "drifted_caches": len(jane_caches),
        "detected_match_drifted": detected_caches == jane_caches,
        "deferred": len(deferred),
        "deferred_for_arm_errors": len(deferred_arm),
        "deferred_statuses_were_faults": all(
            (r["outcome"].get("status") in (None, 409, 429, 500, 503)) for r in deferred_arm),
        "blocked": sum(1 for r in run.records if r["kind"] == "blocked"),
        "work_items_dropped": sum(1 for r in run.records if r["kind"] == "ignored-event"
                                  and "invalid work item" in (r.get("detail") or "")),
        "duplicates_ignored": sum(1 for r in run.records if r["kind"] == "ignored-event"
                                  and "duplicate delivery" in (r.get("detail") or "")),
        "faults_on_warden_calls": sum(1 for c in warden if c.get("fault")),
        "warden_calls": len(warden),
        "warden_retries": sum(1 for c in warden if c.get("fault")) + sum(
            1 for c in warden if c["status"] in (409, 429, 500, 503) and not c.get("fault")),
        "requests_with_unknown_ids": [r for r in failed_ids if r not in by_request],
    }
