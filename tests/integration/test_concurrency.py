"""Two worker processes plus a CLI scan on one fleet (issue 2 done-when, issue 5 item 3).

Two `python -m devhost` processes run the real function_app on the same Azurite and emulator, each with its
own audit writer, while `python -m remediators scan` reconciles the same caches in a third process. The
emulator answers every ARM call 50 ms late, so reconciles overlap in time. Everything asserted comes from
the emulator's request log (reconciles are told apart by the correlation id each one sends on all its ARM
calls), ARM's final state and the audit files, never from timings.
"""

from __future__ import annotations

import io
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from azure.mgmt.redis import RedisManagementClient
from azure.mgmt.redis.models import RedisFirewallRule, RedisUpdateParameters

from devhost.azurite import start_azurite
from emulator.principals import JANE, WARDEN_CLIENT_ID
from emulator.server import EmulatorServer
from emulator.testing import EmulatorCredential, lro_shape_from_env, sample_cache
from remediators.audit import commands
from remediators.ipranges import AddressSet
from remediators.resource_ids import parse_cache_id
from remediators.settings import StorageSettings
from remediators.state.storage import StorageClients
from remediators.state.store import StateStore

from .stack import (
    ALLOWED,
    SUB,
    app_settings,
    cache_key,
    fast_host_json,
    queue_depth,
    read_jsonl,
    reconcile_windows,
    start_cli,
    worker_process,
)

OFFICE = ("office", "81.2.69.0", "81.2.69.255")
ALLOW_ALL = ("allow_all", "0.0.0.0", "255.255.255.255")
QUEUES = ("warden-events", "warden-work")
POISON = ("warden-events-poison", "warden-work-poison")
WRITES = ("PUT", "PATCH", "DELETE")
HELD = "mixed-cache"  # the test holds this cache's lease itself while the workers start


def _fleet() -> list[dict[str, Any]]:
    knobs = {"lroSeconds": 1}
    return [
        sample_cache("nonssl-0", properties={"enableNonSslPort": True}, firewall_rules=[OFFICE], knobs=knobs),
        sample_cache("nonssl-1", properties={"enableNonSslPort": True}, firewall_rules=[OFFICE], knobs=knobs),
        sample_cache("tls-0", properties={"minimumTlsVersion": "1.0"}, firewall_rules=[OFFICE], knobs=knobs),
        sample_cache("both-0", properties={"enableNonSslPort": True, "minimumTlsVersion": "1.1"},
                     firewall_rules=[OFFICE], knobs=knobs),
        sample_cache("allowall-0", firewall_rules=[ALLOW_ALL], knobs=knobs),
        sample_cache("allowall-1", properties={"enableNonSslPort": True}, firewall_rules=[ALLOW_ALL], knobs=knobs),
        sample_cache("norules-0", knobs=knobs),
        sample_cache(HELD, firewall_rules=[OFFICE, ("too_wide", "81.0.0.0", "81.255.255.255")], knobs=knobs),
        sample_cache("clean-0", firewall_rules=[OFFICE], knobs=knobs),
        sample_cache("clean-1", firewall_rules=[OFFICE], knobs=knobs),
    ]


def _jane_drifts(arm: EmulatorServer) -> None:
    """Jane's own writes through the SDK, before any worker runs: their events wait in `warden-events`."""
    jane = RedisManagementClient(EmulatorCredential(arm, JANE), SUB, base_url=arm.arm_endpoint,
                                 polling_interval=0.2, connection_verify=arm.ca_bundle)
    open_all = RedisFirewallRule(start_ip="0.0.0.0", end_ip="255.255.255.255")
    writes = [
        lambda: jane.redis.begin_update("rg-payments", "clean-0",
                                        RedisUpdateParameters(enable_non_ssl_port=True)).result(),
        lambda: jane.firewall_rules.create_or_update("rg-payments", "clean-1", "jane_all", open_all),
        lambda: jane.firewall_rules.create_or_update("rg-payments", "nonssl-0", "jane_all", open_all),
        lambda: jane.redis.begin_update("rg-payments", "tls-0",
                                        RedisUpdateParameters(enable_non_ssl_port=True)).result(),
    ]
    with ThreadPoolExecutor(len(writes)) as pool:
        for future in [pool.submit(w) for w in writes]:
            future.result()


def _admitted(rules: Mapping[str, tuple[str, str]]) -> AddressSet:
    if not rules:
        return AddressSet.from_ranges(["0.0.0.0-255.255.255.255"])
    return AddressSet.from_pairs(list(rules.values()))


def _assert_firewall_never_emptied(fleet: Sequence[Mapping[str, Any]], calls: Sequence[Mapping[str, Any]]) -> None:
    """Replay every firewall PUT/DELETE (anyone's) in the order ARM answered them: with public access on,
    no list is ever empty, and no state within one of our reconciles admits an address that was not
    admitted when that reconcile made its first firewall write (design section 4: measured against the
    set admitted before the plan)."""
    rules = {entry["id"].lower(): {r["name"]: (r["properties"]["startIP"], r["properties"]["endIP"])
                                   for r in entry.get("firewallRules", [])} for entry in fleet}
    plan_start: dict[tuple[str, str], AddressSet] = {}
    for call in calls:
        key = cache_key(call["path"])
        if key is None or "/firewallrules/" not in call["path"].lower() or call["status"] >= 300:
            continue
        if call["method"] not in ("PUT", "DELETE"):
            continue
        current = rules[key]
        before = plan_start.setdefault((key, call["correlation_id"]), _admitted(current))
        name = call["path"].rsplit("/", 1)[-1]
        if call["method"] == "PUT":
            current[name] = (call["body"]["properties"]["startIP"], call["body"]["properties"]["endIP"])
        else:
            current.pop(name, None)
        assert current, f"{key}: the firewall list was emptied by {call['method']} {name}"
        if (call["caller"] or {}).get("appid") == WARDEN_CLIENT_ID:
            assert _admitted(current) <= before, f"{key}: our {call['method']} {name} admitted a new address"


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.kill()
        proc.wait(timeout=10)


def _drained_twice(connection_string: str) -> Callable[[], bool]:
    """True once the work queues were empty on two checks in a row (visible, delayed and in flight alike:
    a message is deleted only after its function succeeded, and follow-ups are sent before that)."""
    seen: list[bool] = []

    def check() -> bool:
        seen.append(queue_depth(connection_string, QUEUES) == 0)
        return seen[-2:] == [True, True]

    return check


def _wait(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


def _writes_decided_on_fresh_reads(calls: Sequence[Mapping[str, Any]]) -> int:
    """Per cache, per reconcile (correlation id): its writes never interleave with another reconcile's, and
    the last read it made before each write began after every earlier write of another reconcile was
    answered, so no write is decided on a view older than one of our writes. Returns the writes checked."""
    per_cache: dict[str, list[Mapping[str, Any]]] = {}
    for call in calls:
        key = cache_key(call["path"])
        if key is not None:
            per_cache.setdefault(key, []).append(call)
    checked = 0
    for key, cache_calls in per_cache.items():
        writes = [c for c in cache_calls if c["method"] in WRITES]  # a POST we send is a query (policy states)
        spans: dict[str, tuple[datetime, datetime]] = {}
        for w in writes:
            start, end = datetime.fromisoformat(w["time"]), datetime.fromisoformat(w["end"])
            old = spans.get(w["correlation_id"], (start, end))
            spans[w["correlation_id"]] = (min(old[0], start), max(old[1], end))
        ordered = sorted(spans.items(), key=lambda kv: kv[1][0])
        for (corr_a, (_, end_a)), (corr_b, (start_b, _)) in zip(ordered, ordered[1:], strict=False):
            assert end_a < start_b, f"{key}: writes of reconcile {corr_b} began before those of {corr_a} ended"
        for w in writes:
            began = datetime.fromisoformat(w["time"])
            reads = [datetime.fromisoformat(c["time"]) for c in cache_calls if c["method"] == "GET"
                     and c["correlation_id"] == w["correlation_id"] and datetime.fromisoformat(c["end"]) <= began]
            assert reads, f"{key}: {w['method']} {w['path']} was not preceded by a read of its own reconcile"
            others = [datetime.fromisoformat(o["end"]) for o in writes
                      if o["correlation_id"] != w["correlation_id"] and datetime.fromisoformat(o["end"]) <= began]
            assert all(end < max(reads) for end in others), (
                f"{key}: {w['method']} {w['path']} was decided on a read older than another reconcile's write")
            checked += 1
    return checked


def _lease_deferrals(audit_files: Sequence[Path], cache_name: str) -> int:
    return sum(1 for f in audit_files for r in read_jsonl(f)
               if r["kind"] == "deferred" and "lease held" in r.get("detail", "")
               and r.get("cache_id", "").lower().endswith("/" + cache_name))


def test_two_workers_and_a_cli_scan_never_write_one_cache_at_once_nor_from_a_stale_read(tmp_path: Path) -> None:
    fleet = _fleet()
    allowed = AddressSet.from_ranges(ALLOWED)
    with ExitStack() as stack:
        az = stack.enter_context(start_azurite(log_path=tmp_path / "azurite.log"))
        arm = stack.enter_context(EmulatorServer(fleet, lro_shape=lro_shape_from_env(),
                                                 queue_connection_string=az.connection_string))
        _jane_drifts(arm)
        arm.latency = 0.05  # realistic from here on: every ARM call answers 50 ms late

        # Hold one cache's lease from this process, as a third worker would, while everything starts.
        state = StateStore(StorageClients(StorageSettings(connection_string=az.connection_string)))
        state.ensure()
        held_cache = parse_cache_id(next(e["id"] for e in fleet if e["name"] == HELD))
        lease = state.try_lease(held_cache)
        assert lease is not None

        host_json = fast_host_json(tmp_path)
        # The CLI waits for a lease by deferring in memory; the workers through the queue. Neither waits on
        # an LRO (WARDEN_LRO_WAIT_SECONDS=0): a running PATCH is a deferral too, so reconciles of one cache
        # come from many places and the lease is what keeps them apart.
        settings = {name: app_settings(arm, az, tmp_path / f"audit-{name}.jsonl", WARDEN_LRO_WAIT_SECONDS="0")
                    for name in ("worker-a", "worker-b", "cli")}
        workers = [stack.enter_context(worker_process(tmp_path, name, settings[name], host_json=host_json))
                   for name in ("worker-a", "worker-b")]
        cli = start_cli(["scan", "--subscription", SUB, "--retry-for", "90"], settings["cli"],
                        tmp_path / "cli-scan.out")
        stack.callback(_stop, cli)
        for worker in workers:
            reply = worker.post("/api/scans", {"scope": f"/subscriptions/{SUB}"})
            assert reply.status_code == 202, reply.text
            assert reply.json()["cacheCount"] == len(fleet)

        audit_files = [w.audit_file for w in workers] + [Path(settings["cli"]["WARDEN_AUDIT_FILE"])]
        _wait(lambda: _lease_deferrals(audit_files, HELD) > 0, 60, "a reconcile to find the held lease")
        released_at = datetime.now(UTC)
        lease.release()

        _wait(lambda: cli.poll() is not None, 90, "the CLI scan to finish")
        _wait(_drained_twice(az.connection_string), 90, "the queues to drain")
        cli_out = (tmp_path / "cli-scan.out").read_text()
        assert cli.returncode == 0, cli_out + (tmp_path / "cli-scan.err").read_text()[-3000:]
        assert queue_depth(az.connection_string, POISON) == 0

        calls = arm.requests()
        ours = [c for c in calls if (c["caller"] or {}).get("appid") == WARDEN_CLIENT_ID]
        windows = reconcile_windows(ours)

        # The lease, across both workers and the CLI: the writes of two reconciles of one cache never
        # interleave, and each write is decided on a read made after every earlier write of ours. Reads
        # may overlap: a reconcile reads and judges without the lease and takes it only to write.
        assert _writes_decided_on_fresh_reads(ours) > 0
        # Every cache was reconciled by each of the three scans (and more): the checks had work to do.
        assert all(len(windows[entry["id"].lower()]) >= 3 for entry in fleet), {
            k: len(v) for k, v in windows.items()}
        # Nobody wrote to the held cache while this process held its lease; it was read (and found drifted).
        held_calls = [c for c in ours if cache_key(c["path"]) == held_cache.key]
        assert [c for c in held_calls if datetime.fromisoformat(c["time"]) < released_at]
        assert all(datetime.fromisoformat(c["time"]) >= released_at for c in held_calls if c["method"] in WRITES)

        _assert_firewall_never_emptied(fleet, calls)

        # Every cache converged.
        for entry in fleet:
            body = arm.cache(entry["id"])
            assert body is not None
            props = body["properties"]
            assert (props["enableNonSslPort"], props["minimumTlsVersion"], props["provisioningState"]) == (
                False, "1.2", "Succeeded"), entry["name"]
            final = {r["name"]: (r["properties"]["startIP"], r["properties"]["endIP"]) for r in body["firewallRules"]}
            assert final and _admitted(final) <= allowed, (entry["name"], final)

        # Three writers, three intact chains, no alert.
        for f in audit_files:
            assert commands.audit_verify(file=str(f), out=io.StringIO(), err=io.StringIO()) == 0, f
            assert not [r for r in read_jsonl(f) if r["kind"] == "alert"], f
