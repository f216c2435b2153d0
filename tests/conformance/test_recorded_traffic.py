"""The emulator answers as recorded real Azure traffic does (fixtures/SOURCES.md), field by field.

Each fixture holds exchanges taken from a public recording: the request, ARM's status, the headers that
matter (LRO status URLs by path and query parameter names, content type, headers that must be absent) and
the body. The emulator is seeded with the recorded resource where the fixture gives one, sent the same
requests, and must answer with the same status, those headers, and a body with the same keys, the same JSON
types and (where the emulator holds the recorded resource) the same values. Only the operation id, which
ARM makes up, is taken from the emulator's answer.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from azure.core.pipeline import PipelineRequest, PipelineResponse
from azure.core.pipeline.policies import SansIOHTTPPolicy
from azure.mgmt.redisenterprise import RedisEnterpriseManagementClient
from requests.structures import CaseInsensitiveDict

from emulator.testing import EmulatorCredential, RawArm, running_emulator, sample_cache

FIXTURES = Path(__file__).with_name("fixtures")
SERVED_API = {"2023-04-01": "2024-11-01"}  # the firewallRules contract is unchanged between them


def _load(name: str) -> dict[str, Any]:
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


def _kind(value: Any) -> str:
    return "null" if value is None else type(value).__name__


def assert_same_shape(recorded: Any, actual: Any, where: str = "body", *, values: bool = True) -> None:
    """Same keys at every level, same JSON types, and (with `values`) the same scalars."""
    assert _kind(actual) == _kind(recorded), f"{where}: {_kind(actual)} where ARM answered {_kind(recorded)}"
    if isinstance(recorded, dict):
        assert set(actual) == set(recorded), (
            f"{where}: keys {sorted(set(actual) ^ set(recorded))} differ from the recording")
        for key, value in recorded.items():
            assert_same_shape(value, actual[key], f"{where}.{key}", values=values)
    elif isinstance(recorded, list):
        if values:
            assert len(actual) == len(recorded), f"{where}: {len(actual)} items, ARM answered {len(recorded)}"
        for i, (r, a) in enumerate(zip(recorded, actual, strict=False)):
            assert_same_shape(r, a, f"{where}[{i}]", values=values)
    elif values:
        assert actual == recorded, f"{where}: {actual!r}, ARM answered {recorded!r}"


def _assert_headers(expected: dict[str, Any], absent: list[str], resp: Any, op_id: str | None,
                    recorded_op: str | None, name: str) -> None:
    for header, want in expected.items():
        got = resp.headers.get(header)
        assert got is not None, f"{name}: no {header} header (ARM sends one)"
        if isinstance(want, dict):
            url = urlsplit(got)
            path = want["path"].replace(recorded_op, op_id) if recorded_op and op_id else want["path"]
            assert url.path == path, f"{name}: {header} path {url.path}, ARM's is {path}"
            assert sorted(parse_qs(url.query)) == sorted(want["query"]), f"{name}: {header} query parameters"
        elif header == "content-type":
            assert got.split(";")[0].strip() == want.split(";")[0].strip(), f"{name}: content-type {got}"
        else:
            assert got == want, f"{name}: {header} {got!r}, ARM's {want!r}"
    for header in absent:
        assert header not in {h.lower() for h in resp.headers}, f"{name}: {header} present; ARM sends none"


def test_redis_patch_is_the_recorded_long_running_operation() -> None:
    fixture = _load("redis_patch_lro.json")
    fleet = [{**fixture["fleet"][0], "x-emulator": {"lroPolls": 2}}]  # InProgress on the first poll, as recorded
    recorded_op = "229db790-b5f6-4ccc-b3b8-98262e5b1a96"
    with running_emulator(fleet, lro_shape="recorded", retry_after=None) as server:
        arm = RawArm(server)
        urls: dict[str, str] = {}
        op_id: str | None = None
        for exchange in fixture["exchanges"]:
            req, want = exchange["request"], exchange["response"]
            if "url_from" in req:
                resp = arm.request(req["method"], urls[req["url_from"]])
            else:
                resp = arm.request(req["method"], req["path"], body=req.get("body"), api_version=req["api-version"])
            assert resp.status_code == want["status"], f"{exchange['name']}: {resp.status_code} {resp.text}"
            if exchange["name"] == "patch":
                urls["patch.azure-asyncoperation"] = resp.headers["Azure-AsyncOperation"]
                op_id = urlsplit(resp.headers["Azure-AsyncOperation"]).path.rsplit("/", 1)[-1]
            _assert_headers(want.get("headers", {}), want.get("absent_headers", []), resp, op_id, recorded_op,
                            exchange["name"])
            expected = json.loads(json.dumps(want["body"]).replace(recorded_op, op_id or recorded_op))
            assert_same_shape(expected, resp.json(), f"{exchange['name']}.body")


def test_firewall_rules_answer_as_recorded() -> None:
    fixture = _load("redis_firewall_rules.json")
    with running_emulator(fixture["fleet"], retry_after=None) as server:
        arm = RawArm(server)
        for exchange in fixture["exchanges"]:
            req, want = exchange["request"], exchange["response"]
            resp = arm.request(req["method"], req["path"], body=req.get("body"),
                               api_version=SERVED_API.get(req["api-version"], req["api-version"]))
            assert resp.status_code == want["status"], f"{exchange['name']}: {resp.status_code} {resp.text}"
            headers = dict(want.get("headers", {}))
            if headers.pop("content-length", None) is not None:
                assert resp.headers["Content-Length"] == "0" and resp.content == b""
            _assert_headers(headers, want.get("absent_headers", []), resp, None, None, exchange["name"])
            if want["body"] is not None:
                assert_same_shape(want["body"], resp.json(), f"{exchange['name']}.body")


def test_a_diagnostic_setting_has_azure_monitors_shape() -> None:
    """Recorded on a network security group; the same resource type answers the same shape on a cache."""
    fixture = _load("diagnostic_setting_put.json")
    [exchange] = fixture["exchanges"]
    want = exchange["response"]
    cache = ("/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/clitest.rg000001/providers/"
             "Microsoft.Cache/Redis/c1")
    fleet = [{"id": cache, "name": "c1", "location": "UK South", "type": "Microsoft.Cache/Redis",
              "properties": {"sku": {"name": "Standard", "family": "C", "capacity": 1}}}]
    with running_emulator(fleet) as server:
        resp = RawArm(server).request("PUT", f"{cache}/providers/Microsoft.Insights/diagnosticSettings/test01",
                                      body=exchange["request"]["body"], api_version="2021-05-01-preview")
        assert resp.status_code == want["status"], resp.text
        body = resp.json()
        assert_same_shape(want["body"], body, values=False)
        assert body["properties"] == want["body"]["properties"]  # what was sent, unset ones null
        assert {k: body[k] for k in ("type", "name", "location", "kind", "tags", "identity")} == {
            k: want["body"][k] for k in ("type", "name", "location", "kind", "tags", "identity")}
        assert body["id"] == f"{cache.lower()}/providers/microsoft.insights/diagnosticSettings/test01"


@pytest.mark.parametrize("name", sorted(p.name for p in FIXTURES.glob("*.json")))
def test_every_fixture_is_cited_in_sources(name: str) -> None:
    sources = (FIXTURES / "SOURCES.md").read_text(encoding="utf-8")
    assert name in sources
    assert "repository" in _load(name)["source"]


# ---------------------------------------------------------------------------------------------- Azure Managed Redis


@dataclass(frozen=True)
class Seen:
    """One response as the SDK's pipeline received it."""

    method: str
    url: str
    status_code: int
    headers: CaseInsensitiveDict
    body: Any

    def json(self) -> Any:
        return self.body


class SeenBySdk(SansIOHTTPPolicy):  # type: ignore[type-arg]
    """Keeps every response the real SDK client gets: the write, each status poll and its final GET. Bodies
    are read once the SDK is done (it streams the write's answer and reads it itself)."""

    def __init__(self) -> None:
        self.responses: list[tuple[str, str, Any]] = []

    def on_response(self, request: PipelineRequest, response: PipelineResponse) -> None:  # type: ignore[type-arg]
        self.responses.append((request.http_request.method, request.http_request.url, response.http_response))

    def seen(self) -> list[Seen]:
        out = []
        for method, url, http in self.responses:
            text = http.text()
            out.append(Seen(method, url, http.status_code, CaseInsensitiveDict(http.headers),
                            json.loads(text) if text else None))
        return out


TIMESTAMPS = ("startTime", "endTime")
NOT_ENDED = "0001-01-01T00:00:00+00:00"
# Recorded at 2025-05-01-preview, not in the 2025-07-01 contract the emulator and the warden's SDK speak.
UNSERVED_PROPERTIES = ("keySpaceNotification",)


def _served(value: Any) -> Any:
    """A recorded body (or fleet entry) without the properties of another api-version."""
    out = json.loads(json.dumps(value))
    for item in [out, *out.get("databases", [])] if isinstance(out, dict) else []:
        for key in UNSERVED_PROPERTIES:
            (item.get("properties") or {}).pop(key, None)
    return out


def _without_times(body: dict[str, Any]) -> dict[str, Any]:
    """A status body with its timestamps checked apart: present, strings, the 'not ended' sentinel by value."""
    out = dict(body)
    for key in TIMESTAMPS:
        value = out.pop(key)
        assert isinstance(value, str) and value, f"{key}: {value!r}"
    return out


def _drive_amr_update(fixture: dict[str, Any], *, database: str | None, patch: dict[str, Any]) -> list[Seen]:
    """The warden's write as the warden makes it: azure-mgmt-redisenterprise's begin_update (a PATCH) on the
    recorded resource, followed to the end by the SDK's own LRO poller. Two polls: the first one in progress."""
    fleet = [{**_served(fixture["fleet"][0]), "x-emulator": {"lroPolls": 2}}]
    cluster = fleet[0]["id"]
    rg, name = cluster.split("/")[4], cluster.rsplit("/", 1)[-1]
    recorder = SeenBySdk()
    with running_emulator(fleet, lro_shape="recorded", retry_after=None) as server:
        client = RedisEnterpriseManagementClient(EmulatorCredential(server), cluster.split("/")[2],
                                                 base_url=server.arm_endpoint, polling_interval=0,
                                                 per_call_policies=[recorder])
        body = json.dumps(patch).encode("utf-8")
        if database is None:
            poller = client.redis_enterprise.begin_update(rg, name, body, content_type="application/json")
        else:
            poller = client.databases.begin_update(rg, name, database, body, content_type="application/json")
        poller.result()
    return recorder.seen()


def _op_id(resp: Seen) -> str:
    return urlsplit(resp.headers["Azure-AsyncOperation"]).path.rsplit("/", 1)[-1]


def test_an_amr_database_patch_answers_as_the_recorded_database_update() -> None:
    """Recorded: a PUT of an existing database (no PATCH of this provider is recorded); sent: the SDK's PATCH of
    the same change. Status, LRO headers and where they point, the body during and after, the status polls."""
    fixture = _load("amr_database_update_lro.json")
    want = {e["name"]: {**e["response"], "body": _served(e["response"]["body"])} for e in fixture["exchanges"]}
    update = next(e for e in fixture["exchanges"] if e["name"] == "update")
    recorded_op = want["poll-pending"]["body"]["name"]
    seen = _drive_amr_update(fixture, database="default", patch=update["patch_body"])
    assert [(s.method, s.status_code) for s in seen] == [("PATCH", 200), ("GET", 200), ("GET", 200), ("GET", 200)]
    write, pending, succeeded, after = seen
    op_id = _op_id(write)
    _assert_headers(want["update"]["headers"], want["update"]["absent_headers"], write, op_id, recorded_op, "update")
    assert_same_shape(want["update"]["body"], write.json(), "update.body")  # the new value, Updating/Updating
    for resp, name in ((pending, "poll-pending"), (succeeded, "poll-succeeded")):
        _assert_headers(want[name]["headers"], want[name]["absent_headers"], resp, op_id, recorded_op, name)
        expected = json.loads(json.dumps(want[name]["body"]).replace(recorded_op, op_id))
        assert_same_shape(_without_times(expected), _without_times(resp.json()), f"{name}.body")
    assert pending.json()["endTime"] == NOT_ENDED == want["poll-pending"]["body"]["endTime"]
    assert succeeded.json()["endTime"] != NOT_ENDED
    assert after.url.split("?")[0].endswith(update["request"]["path"])  # the final GET is the database itself
    assert_same_shape(want["get-after"]["body"], after.json(), "get-after.body")


def test_an_amr_cluster_patch_answers_as_the_recorded_cluster_update() -> None:
    """Recorded: a PUT changing the cluster's SKU, answered 201 with the old SKU, resourceState Scaling. Sent: the
    SDK's PATCH of publicNetworkAccess (what the warden changes). Where they differ, and why, is asserted here."""
    fixture = _load("amr_cluster_update_lro.json")
    want = {e["name"]: e["response"] for e in fixture["exchanges"]}
    recorded_op = want["poll-in-progress"]["body"]["name"]
    seen = _drive_amr_update(fixture, database=None, patch={"properties": {"publicNetworkAccess": "Disabled"}})
    write, in_progress, *_, after = seen
    # A PUT creating or scaling may answer 201; a PATCH may not (RedisEnterprise_Update: 200 or 202, and the
    # SDK refuses any other code), so the recorded 201 becomes 200 with the same headers and body shape.
    assert want["update"]["status"] == 201 and write.status_code == 200
    op_id = _op_id(write)
    _assert_headers(want["update"]["headers"], want["update"]["absent_headers"], write, op_id, recorded_op, "update")
    recorded = json.loads(json.dumps(want["update"]["body"]))
    recorded["properties"]["publicNetworkAccess"] = "Disabled"  # the change sent; applied in the answer as the
    recorded["properties"]["resourceState"] = "Updating"  # database update shows (Scaling is a SKU change's)
    assert_same_shape(recorded, write.json(), "update.body")
    name = "poll-in-progress"
    _assert_headers(want[name]["headers"], want[name]["absent_headers"], in_progress, op_id, recorded_op, name)
    expected = json.loads(json.dumps(want[name]["body"]).replace(recorded_op, op_id))
    assert_same_shape(_without_times(expected), _without_times(in_progress.json()), f"{name}.body")
    assert after.json()["properties"]["provisioningState"] == "Succeeded"
    assert after.json()["properties"]["resourceState"] == "Running"
    assert after.json()["properties"]["publicNetworkAccess"] == "Disabled"


# ---------------------------------------------------------------------------------------------- list paging


def test_a_list_next_link_has_the_shape_arm_recorded() -> None:
    """The recorded nextLink (Microsoft.Consumption: no Microsoft.Cache list in the recordings pages) is absolute,
    on the host and path the list was asked at, keeps the request's own parameters (`$top`, `api-version`) and
    adds `$skiptoken` with other opaque ones. The emulator's is held to the same, and the next page follows."""
    [exchange] = _load("arm_list_next_link.json")["exchanges"]
    asked, link = urlsplit(exchange["request"]["url"]), urlsplit(exchange["response"]["body"]["nextLink"])
    asked_q, link_q = parse_qs(asked.query), parse_qs(link.query)
    assert (link.scheme, link.netloc, link.path) == ("https", asked.netloc, asked.path)
    assert all(link_q[k] == v for k, v in asked_q.items()) and "$skiptoken" in link_q
    fleet = [sample_cache(f"c{i}") for i in range(3)]  # a page holds 2: the list has a second page
    path = "/subscriptions/" + fleet[0]["id"].split("/")[2] + "/providers/Microsoft.Cache/Redis"
    with running_emulator(fleet) as server:
        arm = RawArm(server)
        first = arm.request("GET", f"{path}?$top=5&api-version={arm.api_version}")
        ours = urlsplit(first.json()["nextLink"])
        ours_q = parse_qs(ours.query)
        assert (ours.scheme, ours.netloc, ours.path) == ("https", urlsplit(server.arm_endpoint).netloc, path)
        assert ours_q["$top"] == ["5"] and ours_q["api-version"] and ours_q["$skiptoken"]
        second = arm.request("GET", first.json()["nextLink"], api_version=None)
        assert second.status_code == 200 and "nextLink" not in second.json()
        names = {c["name"] for c in first.json()["value"] + second.json()["value"]}
        assert names == {"c0", "c1", "c2"}


def test_a_recorded_listing_carries_what_a_listed_body_must_hold() -> None:
    """Real `az redis list` items hold every property `listed_body_usable` requires, so in a scan the
    listing stands for each cache's GET; the emulator's listing answers each seeded cache's GET body."""
    from remediators.arm.bodies import listed_body_usable
    from remediators.resource_ids import parse_cache_id

    fixture = _load("redis_list.json")
    listed = fixture["listed"]
    for item in listed:
        assert listed_body_usable(parse_cache_id(item["id"]), item), item["name"]
    with running_emulator(listed, retry_after=None) as server:
        arm = RawArm(server)
        resp = arm.request("GET", fixture["request"]["path"])
        assert resp.status_code == 200
        items: list[dict[str, Any]] = []
        page = resp.json()
        while True:
            items += page["value"]
            if not page.get("nextLink"):
                break
            page = arm.request("GET", page["nextLink"], api_version=None).json()
        assert {i["id"].lower() for i in items} == {i["id"].lower() for i in listed}
        for item in items:
            get = arm.request("GET", item["id"])
            assert get.status_code == 200
            assert_same_shape(get.json(), item, f"list item {item['name']}")
