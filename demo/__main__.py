"""`make demo`: the main job on an embedded default, end to end, with nothing from Azure.

Azurite, the HTTPS ARM emulator with a sample fleet, and the real `function_app` in the local dev host.
A nightly-style scan fixes the drift already in the fleet; then Jane Doe drifts a compliant cache through
the real Azure SDK, Event Grid delivers her writes to the queue, the triggers fix them, and our own writes
come back as events and are dropped without an ARM call. The run exits non-zero unless it converged: no
remediable drift left, every remaining finding audit-only, manual or exempt, as `demo/expected.json` says.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import requests
from azure.mgmt.redis import RedisManagementClient
from azure.mgmt.redis.models import RedisFirewallRule, RedisUpdateParameters
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from demo.tables import print_table
from devhost.azurite import start_azurite
from devhost.host import DevHost
from devhost.redis_server import SAMPLER_ACL, start_redis
from emulator.principals import JANE, JANE_OBJECT_ID, SUBSCRIPTION_ID, WARDEN_CLIENT_ID, WARDEN_OBJECT_ID
from emulator.server import EmulatorServer
from emulator.testing import EmulatorCredential, env_for
from remediators.audit.londontime import LONDON

HERE = Path(__file__).resolve().parent
WORK = HERE.parent / ".demo"
SAMPLED_CACHE = (f"/subscriptions/{SUBSCRIPTION_ID}/resourceGroups/rg-payments/providers/Microsoft.Cache/Redis/"
                 "legacy-cache")
WORKSPACE = (
    f"/subscriptions/{SUBSCRIPTION_ID}/resourceGroups/rg-monitoring/providers/"
    "Microsoft.OperationalInsights/workspaces/law-warden"
)


def say(text: str) -> None:
    print(f"\n== {text}", flush=True)


def signing_key(path: Path) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()))


def who(record: dict[str, Any]) -> str:
    actor = (record.get("trigger") or {}).get("actor") or {}
    oid = actor.get("oid")
    if oid == JANE_OBJECT_ID:
        return "Jane Doe (oid a1b2…)"
    if actor.get("appid") == WARDEN_CLIENT_ID:
        return "redis-warden"
    scan = (record.get("trigger") or {}).get("scan_id")
    return f"scan {scan[:8]}" if scan else (oid or "-")


def london_clock(utc: str) -> str:
    """HH:MM:SS GMT|BST: the table sits beside London dates, so its times are London times, labelled."""
    from remediators.audit.londontime import london

    _day, clock, zone = london(utc)
    return f"{clock} {zone}"


def change(record: dict[str, Any]) -> str:
    if record.get("before") is None and record.get("after") is None:
        return record.get("detail") or "-"

    def show(value: Any) -> str:
        if value is None:
            return "-"
        if isinstance(value, dict):
            return ", ".join(f"{k}={v}" for k, v in value.items())
        return str(value)

    return f"{show(record.get('before'))} -> {show(record.get('after'))}"


def main() -> int:
    shutil.rmtree(WORK, ignore_errors=True)
    WORK.mkdir(parents=True)
    signing_key(WORK / "checkpoint-key.pem")
    fleet = with_auth_alerts(json.loads((HERE / "fleet.json").read_text()))
    expected = json.loads((HERE / "expected.json").read_text())

    say("starting Azurite, the ARM emulator (HTTPS, test CA), a TLS redis-server and the local Functions host")
    # legacy-cache's data plane is a local redis-server: TLS only, the warden's object id as ACL user with just
    # SCAN and PTTL. It accepts any token for that user (Azure validates Entra tokens; offline nothing can).
    with start_azurite(log_path=WORK / "azurite.log") as azurite, EmulatorServer(
        fleet, lro_shape="recorded", queue_connection_string=azurite.connection_string,
        request_log=WORK / "arm-requests.jsonl", ca_dir=WORK / "ca", lro_seconds=1.0,
    ) as arm, start_redis(WORK / "redis", {}, admin=("demo-seeder", "demo-seeder-password"),
                          extra_users=[f"user {WARDEN_OBJECT_ID} on nopass {SAMPLER_ACL}"]) as data:
        seed_keys(data)
        env = {
            **env_for(arm),
            "AzureWebJobsStorage": azurite.connection_string,
            "WARDEN_SUBSCRIPTIONS": SUBSCRIPTION_ID,
            "WARDEN_BASELINE": str(HERE / "baseline.json"),
            "WARDEN_DRY_RUN": "false",
            "WARDEN_SIGNING_KEY": str(WORK / "checkpoint-key.pem"),
            "WARDEN_LOG_ANALYTICS_WORKSPACE_RESOURCE_ID": WORKSPACE,
            "WARDEN_DEFER_BASE_SECONDS": "1",
            "WARDEN_LRO_WAIT_SECONDS": "5",
            "WARDEN_KEY_EXPIRY_LOCAL_ENDPOINTS": json.dumps({SAMPLED_CACHE: f"localhost:{data.tls_port}"}),
            "WARDEN_KEY_EXPIRY_CA_FILE": data.ca_file,
        }
        os.environ.update(env)
        import function_app

        print(f"   ARM emulator  {arm.arm_endpoint}  ({len(fleet)} caches)")
        with DevHost(function_app.app, azurite.connection_string, settings=env) as host:
            print(f"   Functions     {host.http_base_url}/api/scans")

            say("1. POST /api/scans over the subscription: fix the drift already in the fleet")
            resp = requests.post(f"{host.http_base_url}/api/scans", json={"scope": f"/subscriptions/{SUBSCRIPTION_ID}"},
                                 headers={"x-functions-key": host.function_key}, timeout=60)
            scan = resp.json()
            print(f"   {resp.status_code} {scan}")
            host.run_until_idle(180)
            status = requests.get(f"{host.http_base_url}/api/scans/{scan['scanId']}",
                                  headers={"x-functions-key": host.function_key}, timeout=30).json()
            print(f"   scan finished={status['finished']} outcomes={status['outcomes']}")

            say("2. Jane Doe drifts orders-cache through the Azure SDK (non-SSL port on, 0.0.0.0-255.255.255.255)")
            jane = RedisManagementClient(EmulatorCredential(arm, JANE), SUBSCRIPTION_ID, base_url=arm.arm_endpoint,
                                         polling_interval=0.2)
            jane.redis.begin_update("rg-payments", "orders-cache",
                                    RedisUpdateParameters(enable_non_ssl_port=True)).result()
            jane.firewall_rules.create_or_update("rg-payments", "orders-cache", "allow_all",
                                                 RedisFirewallRule(start_ip="0.0.0.0", end_ip="255.255.255.255"))
            print("   Event Grid -> queue warden-events -> on_resource_event")
            host.run_until_idle(180)
            host.fire_timer("hourly_checkpoint")  # as the hourly timer would: sign every chain's head

        records = read_trail(azurite.connection_string)
        calls = arm.requests()
        say("What happened (from the audit trail)")
        rows = [
            [london_clock(r["time"]), (r.get("cache_id") or "-").rsplit("/", 1)[-1], r.get("rule") or "-", change(r),
             who(r), r["kind"]]
            for r in records
            if r["kind"] in ("remediated", "remediation-failed", "deferred", "blocked", "skipped-exempt",
                             "manual-action-required", "gone")
        ]
        print_table(["time (London)", "cache", "rule", "before -> after", "who", "outcome"], rows)
        own = [r for r in records if r["kind"] == "ignored-event" and "own write" in (r.get("detail") or "")]
        writes = [c for c in calls if c["caller"].get("appid") == WARDEN_CLIENT_ID
                  and c["method"] in ("PUT", "PATCH", "DELETE")]  # a POST is the policy-states query, a read
        print(f"\n   {len(own)} of our own writes came back as events and were dropped before any ARM call;"
              f" {len(writes)} ARM writes in all.")
        print_guidance_findings(records)

        say("End state (fresh ARM read, evaluated against the baseline)")
        converged, end_rows = end_state(arm, expected, records)
        print_table(["cache", "remediable drift left", "audit only", "manual", "exempt", "blocked by ARM"], end_rows)

        os.environ.update(env)
        from remediators.audit.signing import key_fingerprint
        from remediators.entry.cli import main as cli

        pinned = key_fingerprint(str(WORK / "checkpoint-key.pem"))  # in Azure: a deployment output
        say(f"python -m remediators audit verify --key-fingerprint {pinned[:16]}…")
        verified = cli(["audit", "verify", "--key-fingerprint", pinned])
        say("python -m remediators audit export --format csv (first rows)")
        buf = io.StringIO()
        cli(["audit", "export", "--format", "csv"], out=buf)
        for line in buf.getvalue().splitlines()[:6]:
            print("   " + line[:200])
        say("python -m remediators report --format json (posture per cache)")
        buf = io.StringIO()
        cli(["report", "--format", "json"], out=buf)
        print_posture(buf.getvalue())
        month = datetime.now(UTC).astimezone(LONDON).strftime("%m/%Y")
        say(f"python -m remediators report --month {month} --out .demo/pack (the monthly assessment pack)")
        buf = io.StringIO()
        packed = cli(["report", "--month", month, "--out", str(WORK / "pack"), "--key-fingerprint", pinned], out=buf)
        for line in buf.getvalue().splitlines():
            print("   " + line)

    ok = converged and verified == 0 and packed == 0
    say("CONVERGED" if ok else "NOT CONVERGED")
    if packed == 0:
        print(f"   assessment pack: {buf.getvalue().splitlines()[0]}")
    return 0 if ok else 1


def with_auth_alerts(fleet: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The authentication-anomaly alert rules `azd up` deploys on the cache-logs workspace
    (infra/modules/auth-alerts.bicep with its default threshold, no allowed client ranges), built from the
    same infra/queries files, so the auth-alerts rule finds them."""
    group = (f"/subscriptions/{SUBSCRIPTION_ID}/resourceGroups/rg-warden/providers/Microsoft.Insights/"
             "scheduledQueryRules")
    rules = []
    for detection in ("acr-failed-entra-auth", "amr-failed-auth"):
        query = (HERE.parent / "infra" / "queries" / f"{detection}.kql").read_text().replace("{{THRESHOLD}}", "10")
        rules.append({"id": f"{group}/alert-warden-{detection}", "location": "uksouth", "kind": "LogAlert",
                      "tags": {"warden-detection": detection},
                      "properties": {"enabled": True, "scopes": [WORKSPACE], "severity": 1,
                                     "evaluationFrequency": "PT5M", "windowSize": "PT15M",
                                     "criteria": {"allOf": [{"query": query, "timeAggregation": "Count",
                                                             "operator": "GreaterThan", "threshold": 0}]}}})
    fleet[0] = {**fleet[0], "scheduledQueryRules": rules}
    return fleet


def seed_keys(data: Any) -> None:
    """An application's keys on legacy-cache's stand-in: sessions and carts that never expire, and a cache
    namespace that does. Values are never read by the warden; they are here only to be realistic."""
    import redis

    client = redis.Redis(host=data.host, port=data.tls_port, ssl=True, ssl_ca_certs=data.ca_file,
                         username="demo-seeder", password="demo-seeder-password")
    pipe = client.pipeline(transaction=False)
    for i in range(120):
        pipe.set(f"session:{i:04d}", "user profile and basket")
    for i in range(40):
        pipe.set(f"cart:{i:04d}", "line items")
    for i in range(90):
        pipe.set(f"catalogue:{i:04d}", "price", ex=3600)
    pipe.execute()
    client.close()


def print_guidance_findings(records: list[dict[str, Any]]) -> None:
    """The key-expiry sample and the NSG finding, as the scan recorded them in the audit trail."""
    say("Key-expiry sample of legacy-cache (opt-in scope, SCAN + PTTL over TLS with Entra, no value read)")
    sample = next((r for r in records if r["kind"] == "detected" and r.get("rule") == "key-expiry"), None)
    if sample is None:
        print("   no key-expiry record in the audit trail")
    else:
        report = sample.get("before") or {}
        print(f"   {sample.get('detail')}")
        if report:
            print_table(["key prefix", "keys without TTL", "keys sampled"],
                        [[p["prefix"], str(p["without_ttl"]), str(p["sampled"])] for p in report["top_prefixes"]])
            print(f"   {report['commands']} commands ({report['scan_calls']} SCAN), complete={report['complete']}")
    say("NSG on injected-cache's subnet (VNet injection: the NSG is its only perimeter)")
    for r in records:
        if r["kind"] == "detected" and r.get("rule") == "nsg":
            print(f"   {r.get('severity')}: {r.get('detail')}")
            break
    else:
        print("   no nsg record in the audit trail")


def read_trail(connection_string: str) -> list[dict[str, Any]]:
    from azure.storage.blob import BlobServiceClient

    from remediators.audit.reader import lines, open_source

    source = open_source(blob_service=BlobServiceClient.from_connection_string(connection_string))
    records = [ln.record for seg in source.segments() for ln in lines(seg) if ln.record is not None]
    return sorted(records, key=lambda r: (r["time"], r["seq"]))


def end_state(
    arm: EmulatorServer, expected: dict[str, dict[str, str]], records: list[dict[str, Any]]
) -> tuple[bool, list[list[str]]]:
    """Re-read every cache, evaluate and plan it as the engine would. Converged when no plan would still
    write (except a write ARM refused for good, recorded as `blocked`) and every open finding is the one
    `expected.json` lists, classified the same way: audit only, manual, exempt or blocked."""
    from azure.identity import ManagedIdentityCredential

    from remediators.arm.gateway import Gateway
    from remediators.baseline import load_baseline, settings_defaults
    from remediators.models import ManualAction, Status
    from remediators.planning.planner import plan
    from remediators.resource_ids import parse_cache_id

    baseline = load_baseline(str(HERE / "baseline.json"), defaults=settings_defaults(WORKSPACE, None))
    gateway = Gateway(arm.arm_endpoint, ManagedIdentityCredential(), lro_wait_seconds=5)
    blocked = {((r.get("cache_id") or "").lower(), r.get("rule")) for r in records if r["kind"] == "blocked"}
    columns = ("left", "audit", "manual", "exempt", "blocked")
    rows: list[list[str]] = []
    seen: dict[str, dict[str, str]] = {}
    for entry in json.loads((HERE / "fleet.json").read_text()):
        cache = parse_cache_id(entry["id"])
        snapshot = gateway.read(cache, baseline.needs(cache.kind))
        findings = baseline.evaluate(snapshot, now=datetime.now(UTC))
        steps = plan(findings, snapshot).steps
        manual = {s.rule for s in steps if isinstance(s, ManualAction)}
        writing = {rule for s in steps if not isinstance(s, ManualAction)
                   for rule in getattr(s, "rules", (getattr(s, "rule", ""),))}
        kinds: dict[str, list[str]] = {k: [] for k in columns}
        for f in findings:
            if f.status in (Status.COMPLIANT, Status.NOT_APPLICABLE):
                continue
            if f.status is Status.EXEMPT:
                why = "exempt"
            elif str(f.effect) != "remediate":
                why = "audit"
            elif f.rule in manual:
                why = "manual"
            elif f.rule in writing and (cache.key, f.rule) in blocked:
                why = "blocked"
            else:
                why = "left"
            kinds[why].append(f.rule)
            seen.setdefault(cache.name, {})[f.rule] = why
        rows.append([cache.name] + [", ".join(kinds[k]) or "-" for k in columns])
    ok = not any(why == "left" for rules in seen.values() for why in rules.values())
    if seen != expected:
        ok = False
        print("   the end state differs from demo/expected.json:")
        print("   got      " + json.dumps(seen, sort_keys=True))
        print("   expected " + json.dumps(expected, sort_keys=True))
    return ok, rows


def print_posture(text: str) -> None:
    report = json.loads(text)
    rows = []
    for item in report["caches"]:
        counts = ", ".join(f"{n} {sev}" for sev, n in item["open"].items() if n) or "none"
        rules = ", ".join(f["rule"] for f in item["open_findings"]) or "-"
        exemptions = ", ".join(f"{e['id']} until {e['expires_london']}" for e in item["exemptions"]) or "-"
        retires = (item.get("retirement") or {}).get("retires_uk") or "-"
        rows.append([item["cache_id"].rsplit("/", 1)[-1], counts, rules, exemptions,
                     item["last_remediation_london"] or "-", retires])
    print_table(["cache", "open by severity", "open rules", "exemptions", "last remediation (London)",
                 "retires (move to Azure Managed Redis)"], rows)


if __name__ == "__main__":
    started = time.monotonic()
    code = main()
    print(f"   ({time.monotonic() - started:.1f} s)")
    sys.exit(code)
