"""Issue 11 at the triggers, with a real `Runtime` (real gateway over HTTPS to the emulator, Azurite state
and queues, the file audit trail): a hostile ARM that cuts the scan's own listing, and Azure Managed Redis
names outside ARM's grammar arriving through an ARM list answer, a queue message, an event subject and the
HTTP scan body. Each is refused with a clear reason that is on the trail, and nothing crafted reaches a URL.

Before this change `POST /api/scans` answered 502 with no audit record when the listing was cut (an off-host
`nextLink`, a page loop), and HTTP 500 (an uncaught `DeserializationError`) when the list page was malformed,
which also stopped the nightly timer; refused scan requests left no record at all.

The hostile answers come from our emulator (emulator/hostile.py); real ARM gives none of them, so these tests
prove our defences, not anything about Azure.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from emulator.hostile import OFF_HOST_PATH
from emulator.principals import SUBSCRIPTION_ID as SUB
from emulator.testing import cache_id, sample_cache
from remediators.entry import triggers
from remediators.resource_ids import parse_cache_id
from tests.amr_fleet import assignment, cluster_id, sample_cluster
from tests.reliability.rig import OFFICE, Rig, engine_rig

EVENTS = Path(__file__).resolve().parents[2] / "reference" / "events"
KINDS = {"Microsoft.Cache/redis", "Microsoft.Cache/redisEnterprise"}
# Names that would address another URL if sent: climbing out, encoded, reserved, over-long, a look-alike.
CRAFTED = ["default/../x", "%2e%2e", "a?b", "x#y", "a" * 61, "d\u0435fault", "a--b"]
# Ids a hostile list of rg-lx adds: outside ARM's grammar, or caches of another resource group.
EXTRA_REDIS_IDS = (cache_id("bad_name", "rg-lx"), cache_id("elsewhere", "rg-other"),
                   cache_id("lx-cache", "rg-lx") + "/../../rg-other/providers/Microsoft.Cache/Redis/elsewhere")
EXTRA_CLUSTER_IDS = (cluster_id("amr--x", "rg-lx"), cluster_id("amr-elsewhere", "rg-other"))
EXPECTED_CODE = {"offHost": "OffEndpointRequest", "selfLoop": "PagingCut", "malformed": "MalformedAnswer"}


def _hostile_listing(attack: str) -> dict[str, Any]:
    return {"listAnswer": "malformed"} if attack == "malformed" else {"listNextLink": attack}


def _alerts(rig: Rig, source: str) -> list[dict[str, Any]]:
    return [r for r in rig.records("alert") if (r.get("trigger") or {}).get("source") == source]


def _warden_paths(rig: Rig) -> list[str]:
    return [r["path"] for r in rig.warden_calls()]


@pytest.mark.parametrize("attack", sorted(EXPECTED_CODE))
def test_a_cut_listing_answers_502_with_what_failed_and_is_audited_as_the_timer_audits_it(
        tmp_path: Path, attack: str) -> None:
    knobs = {"hostile": _hostile_listing(attack)}
    fleet = [sample_cache("lst-cache", firewall_rules=[OFFICE], knobs=knobs), sample_cluster("lst-amr", knobs=knobs)]
    with engine_rig(tmp_path, fleet) as rig:
        body = json.dumps({"scope": f"/subscriptions/{SUB}"}).encode()
        status, answer = triggers.post_scan(body, caller="tester", rt=rig.rt)

        assert status == 502, answer
        assert set(answer) == {"error", "scope", "listingFailed"}
        assert "no scan was started" in answer["error"] and "audit trail" in answer["error"]
        assert answer["scope"] == f"/subscriptions/{SUB}"
        assert set(answer["listingFailed"]) == KINDS
        assert all(EXPECTED_CODE[attack] in why for why in answer["listingFailed"].values()), answer
        text = json.dumps(answer)
        for internal in ("localhost", "127.0.0.1", rig.arm.arm_endpoint, "Traceback", "not-an-array", "token"):
            assert internal not in text, (internal, text)

        http = _alerts(rig, "http-request")
        assert {r["outcome"]["kind"] for r in http} == KINDS and len(http) == 2
        assert {r["outcome"]["code"] for r in http} == {EXPECTED_CODE[attack]}
        assert all(r["outcome"]["status"] == "list-failed" and "scan did not start" in r["detail"] for r in http)
        assert not rig.records("scan-started")
        assert not [p for p in _warden_paths(rig) if OFF_HOST_PATH in p]  # the off-host link was never followed

        # The nightly timer writes the very same records (one code path), and goes on to the next subscription.
        triggers.on_timer(past_due=False, rt=rig.rt)
        timer = _alerts(rig, "timer")

        def shape(r: dict[str, Any]) -> tuple[Any, ...]:
            return r["kind"], r["outcome"]["kind"], r["outcome"]["code"], r["detail"].split(": ", 1)[1]

        assert sorted(map(shape, timer)) == sorted(map(shape, http))
        assert {r["detail"].split(": ", 1)[0] for r in timer} == {"timer scan"}


@pytest.fixture(scope="module")
def rig(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Rig]:
    """One rig for the name attacks (each test reads only the records it caused) and the honest control."""
    fleet = [sample_cluster(f"amr-w{i}", assignments=[assignment()], knobs={"hostile": {"databaseNames": [name]}})
             for i, name in enumerate(CRAFTED)]
    fleet += [sample_cluster("amr-ev"), sample_cluster("amr-s"), sample_cluster("ok-amr", resource_group="rg-ok"),
              sample_cache("ok-cache", resource_group="rg-ok", firewall_rules=[OFFICE]),
              sample_cache("lx-cache", resource_group="rg-lx", firewall_rules=[OFFICE],
                           knobs={"hostile": {"listExtraIds": list(EXTRA_REDIS_IDS)}}),
              sample_cluster("lx-amr", resource_group="rg-lx",
                             knobs={"hostile": {"listExtraIds": list(EXTRA_CLUSTER_IDS)}})]
    with engine_rig(tmp_path_factory.mktemp("names"), fleet) as r:
        yield r


def test_a_cluster_whose_database_list_holds_a_crafted_name_is_blocked_on_the_record(rig: Rig) -> None:
    """Through the queue: a work item for a cluster whose database list answer names `default/../x` (and one
    more of each crafted kind) ends `blocked` with the reason; nothing after the database list is requested."""
    for i in range(len(CRAFTED)):
        item = {"v": 1, "cache_id": cluster_id(f"amr-w{i}"), "reason": "scan", "trigger": {},
                "dry_run": False, "attempt": 0, "not_before": None,
                "first_seen": datetime.now(UTC).isoformat().replace("+00:00", "Z")}
        triggers.on_work_item(json.dumps(item), message_id=str(uuid.uuid4()), dequeue_count=1, rt=rig.rt)
    blocked = {r["cache_id"].rsplit("/", 1)[-1]: r for r in rig.records("blocked")}
    assert set(blocked) == {f"amr-w{i}" for i in range(len(CRAFTED))}
    for i, name in enumerate(CRAFTED):
        record = blocked[f"amr-w{i}"]
        assert record["outcome"]["code"] == "InvalidResourceName"
        assert "outside ARM's grammar" in record["outcome"]["message"]
        assert ascii(name)[1:21] in record["outcome"]["message"]  # the crafted name, escaped and cut
        paths = [r["path"].lower() for r in rig.arm.requests() if f"/amr-w{i}/" in r["path"].lower()]
        assert paths[-1].endswith("/databases"), paths  # no assignments, diagnostics or PATCH after it
    assert not [r for r in rig.arm.requests() if r["method"] in ("PUT", "PATCH", "DELETE")]


def test_an_event_naming_a_crafted_database_is_ignored_on_the_record_with_no_arm_call(rig: Rig) -> None:
    cluster = cluster_id("amr-ev")
    template = json.loads((EVENTS / "redis-write.eventgrid.json").read_text(encoding="utf-8"))[0]
    for name in [*CRAFTED, "x_y", "a.b"]:
        subject = f"{cluster}/databases/{name}"
        event = {**template, "id": str(uuid.uuid4()), "subject": subject,
                 "data": {**template["data"], "resourceUri": subject,
                          "operationName": "Microsoft.Cache/redisEnterprise/databases/write"}}
        before, calls = len(rig.records("ignored-event")), len(rig.arm.requests())
        triggers.on_resource_event(json.dumps(event), message_id="m1", dequeue_count=1, rt=rig.rt)
        [ignored] = rig.records("ignored-event")[before:]
        assert ignored["detail"].startswith(("not a cache we govern", "malformed event")), (name, ignored)
        assert name not in ignored["detail"]  # never quoted (minimisation)
        assert len(rig.arm.requests()) == calls, name  # no ARM call at all


@pytest.mark.parametrize("scope", [
    cluster_id("amr-s") + "/databases/default",  # a database is not a scan scope
    cluster_id("amr-s") + "/databases/default/../../amr-other",
    cluster_id("amr--s"), cluster_id("a" * 61), cluster_id("amr%2es"), cluster_id("amr-\u0455"),
    cluster_id("amr-s?x=1"), cluster_id("amr-s#x"),
])
def test_an_http_scan_of_a_crafted_cluster_or_database_is_a_clear_400_on_the_record(rig: Rig, scope: str) -> None:
    before, calls = len(rig.records("ignored-event")), len(rig.warden_calls())
    body = json.dumps({"scope": scope}).encode()
    status, answer = triggers.post_scan(body, caller="tester", rt=rig.rt)
    assert status == 400 and answer["error"].startswith("scope: "), answer
    [ignored] = rig.records("ignored-event")[before:]
    assert ignored["detail"].startswith("scan request refused (400): scope is not"), ignored
    assert ignored["body_sha256"] == hashlib.sha256(body).hexdigest() and ignored["http_status"] == 400
    assert len(rig.warden_calls()) == calls


def test_the_honest_parts_still_work(rig: Rig) -> None:
    """Control: caches and clusters without the hostile knobs list, scan and reconcile."""
    alerts = len(rig.records("alert"))
    status, answer = triggers.post_scan(json.dumps({"scope": f"/subscriptions/{SUB}/resourceGroups/rg-ok"}).encode(),
                                        caller="tester", rt=rig.rt)
    assert status == 202 and answer["cacheCount"] == 2, answer
    assert len(rig.records("alert")) == alerts
    snapshot = rig.rt.gateway.read(parse_cache_id(cluster_id("ok-amr", "rg-ok")),
                                   frozenset({"access_policy_assignments"}))
    assert [d["name"] for d in snapshot.databases or ()] == ["default"]


def test_ids_in_a_list_answer_outside_the_grammar_or_the_scope_are_refused_audited_and_never_scanned(
        rig: Rig) -> None:
    """Before: an id that did not parse was skipped with a log line only, and a cache of another resource group
    in a resource group's listing was scanned as if it were in scope."""
    alerts = len(rig.records("alert"))
    status, answer = triggers.post_scan(json.dumps({"scope": f"/subscriptions/{SUB}/resourceGroups/rg-lx"}).encode(),
                                        caller="tester", rt=rig.rt)
    assert status == 202 and answer["cacheCount"] == 2, answer  # lx-cache and lx-amr only
    refused = {r["outcome"]["kind"]: r["outcome"] for r in rig.records("alert")[alerts:]}
    assert set(refused) == KINDS
    assert refused["Microsoft.Cache/redis"]["count"] == len(EXTRA_REDIS_IDS)
    assert refused["Microsoft.Cache/redisEnterprise"]["count"] == len(EXTRA_CLUSTER_IDS)
    assert all(o["status"] == "rows-refused" for o in refused.values())
    reasons = [r["reason"] for o in refused.values() for r in o["refused"]]
    assert sum("outside the scope listed" in why for why in reasons) == 2
    assert sum(why.startswith("id: ") for why in reasons) == 3
    [started] = [r for r in rig.records("scan-started") if r["scan_id"] == answer["scanId"]]
    assert started["cache_count"] == 2
    for crafted in ("bad_name", "elsewhere", "amr--x"):
        assert not [r for r in rig.arm.requests() if crafted in r["path"].lower()], crafted
