from __future__ import annotations

import copy
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from emulator.spec import REFERENCE_ROOT
from remediators.events import MAX_BODY_BYTES, parse_delivery, parse_message, parse_time
from remediators.models import CacheChange, IgnoredEvent
from remediators.resource_ids import CacheKind, parse_cache_id

EVENTS = REFERENCE_ROOT / "events"
SUB = "6f1c7e3a-2b4d-4c1e-9f3a-0d2b8e5a7c11"
CACHE = f"/subscriptions/{SUB}/resourceGroups/rg-payments/providers/Microsoft.Cache/Redis/payments-cache"
SAMPLES = sorted(EVENTS.glob("*.json"))


def load(name: str) -> list[dict[str, Any]]:
    return json.loads((EVENTS / name).read_text())


def one(body: Any) -> CacheChange | IgnoredEvent:
    out = parse_message(body if isinstance(body, str | bytes) else json.dumps(body))
    assert len(out) == 1
    return out[0]


def change(body: Any) -> CacheChange:
    result = one(body)
    assert isinstance(result, CacheChange), result
    return result


def ignored(body: Any) -> IgnoredEvent:
    result = one(body)
    assert isinstance(result, IgnoredEvent), result
    return result


def eg_event(**over: Any) -> dict[str, Any]:
    event = copy.deepcopy(load("redis-write.eventgrid.json")[0])
    event.update(over)
    return event


def with_subject(subject: str) -> dict[str, Any]:
    event = eg_event(subject=subject)
    event["data"]["resourceUri"] = subject
    return event


# ---------------------------------------------------------------------------------------- samples


def test_every_sample_file_is_covered() -> None:
    assert {p.name for p in SAMPLES} == {
        "diagnostic-setting-delete.eventgrid.json",
        "firewall-rule-write.eventgrid.json",
        "own-write.eventgrid.json",
        "redis-delete.eventgrid.json",
        "redis-write.cloudevents.json",
        "redis-write.eventgrid.json",
        "storage-write.eventgrid.json",
    }


@pytest.mark.parametrize("path", SAMPLES, ids=lambda p: p.name)
def test_sample_delivery_and_single_message_agree(path: Path) -> None:
    events = json.loads(path.read_text())
    as_delivery = parse_delivery(path.read_bytes())
    as_messages = [one(json.dumps(e)) for e in events]
    assert as_delivery == as_messages
    assert len(as_delivery) == len(events)


def test_redis_write_eventgrid() -> None:
    c = change(load("redis-write.eventgrid.json")[0])
    assert c.cache == parse_cache_id(CACHE)
    assert c.touches_cache_itself and not c.is_delete
    assert c.schema == "eventgrid"
    assert c.event_id == "a3e377ce-7b27-43d6-81eb-5f2eb9a6b184"
    assert c.event_type == "Microsoft.Resources.ResourceWriteSuccess"
    assert c.operation_name == "Microsoft.Cache/redis/write"
    assert c.correlation_id == "8c4a2d6e-1f3b-4a5c-9d7e-2b6f8a0c1e3d"
    assert c.event_time == datetime(2026, 11, 28, 9, 14, 3, 512345, tzinfo=UTC)
    assert c.event_time.utcoffset() == timedelta(0)
    assert c.actor.object_id == "a1b2c3d4-0000-4000-8000-000000000001"
    assert c.actor.app_id == "04b07795-8ddb-461a-bbee-02f9e1bf7b46"
    assert c.actor.principal_type == "User"
    assert c.actor.upn == "jane.doe@contoso.co.uk"
    assert c.actor.name == "Jane Doe"
    assert c.actor.managed_identity_id is None


def test_cloudevents_sample_matches_eventgrid_sample() -> None:
    eg = change(load("redis-write.eventgrid.json")[0])
    ce = change(load("redis-write.cloudevents.json")[0])
    assert ce.schema == "cloudevents"
    assert (ce.cache, ce.event_time, ce.actor, ce.correlation_id, ce.event_type, ce.subject) == (
        eg.cache, eg.event_time, eg.actor, eg.correlation_id, eg.event_type, eg.subject,
    )


def test_child_and_extension_resources_map_to_their_cache() -> None:
    fw = change(load("firewall-rule-write.eventgrid.json")[0])
    assert fw.cache == parse_cache_id(CACHE) and not fw.touches_cache_itself
    assert fw.subject.endswith("/firewallRules/allow_all")
    ds = change(load("diagnostic-setting-delete.eventgrid.json")[0])
    assert ds.cache == parse_cache_id(CACHE) and ds.is_delete and not ds.touches_cache_itself
    for child in ("privateEndpointConnections/pec1", "linkedServers/geo2"):
        assert change(with_subject(f"{CACHE}/{child}")).cache == parse_cache_id(CACHE)


def test_delete_and_own_write() -> None:
    gone = change(load("redis-delete.eventgrid.json")[0])
    assert gone.is_delete and gone.touches_cache_itself
    own = change(load("own-write.eventgrid.json")[0])
    assert own.actor.app_id == "3d2b9c1e-6a0f-4b7e-8c55-9a1e2f3d4c5b"
    assert own.actor.object_id == "9e8d7c6b-0000-4000-8000-0000000000aa"
    assert own.actor.principal_type == "ManagedIdentity"  # from the token's claims (idtyp app, xms_mirid)
    assert own.actor.managed_identity_id is not None and "id-redis-warden" in own.actor.managed_identity_id
    assert own.actor.upn is None


def test_storage_event_is_not_a_cache() -> None:
    ev = ignored(load("storage-write.eventgrid.json")[0])
    assert "not a cache" in ev.reason
    assert ev.event_id == "71aafba1-5798-4e46-87f2-8c6ffb1c4dd4"
    assert ev.event_type == "Microsoft.Resources.ResourceWriteSuccess"
    assert ev.actor is not None and ev.actor.app_id == "04b07795-8ddb-461a-bbee-02f9e1bf7b46"


def test_batch_of_all_samples_keeps_order_and_count() -> None:
    events = [e for p in SAMPLES for e in json.loads(p.read_text())]
    results = parse_message(json.dumps(events).encode())
    assert [getattr(r, "event_id", None) for r in results] == [e["id"] for e in events]
    assert sum(isinstance(r, IgnoredEvent) for r in results) == 1  # the storage account


def test_utf8_bom_and_str_body() -> None:
    raw = (EVENTS / "redis-write.eventgrid.json").read_text()
    assert parse_message(b"\xef\xbb\xbf" + raw.encode()) == parse_message(raw)


# ---------------------------------------------------------------------------------------- ids


def test_mixed_case_ids() -> None:
    subject = CACHE.replace("/providers/Microsoft.Cache/Redis/", "/PROVIDERS/microsoft.cache/redis/")
    event = with_subject(subject)
    event["data"]["resourceUri"] = subject.upper().replace(SUB.upper(), SUB)
    event["data"]["subscriptionId"] = SUB.upper()
    c = change(event)
    assert c.cache == parse_cache_id(CACHE)
    assert c.subject == subject  # kept as sent
    assert c.touches_cache_itself


def test_redis_enterprise_cluster_and_database() -> None:
    cluster = f"/subscriptions/{SUB}/resourceGroups/rg-payments/providers/Microsoft.Cache/redisEnterprise/amr1"
    c = change(with_subject(cluster))
    assert c.cache.kind is CacheKind.REDIS_ENTERPRISE and c.cache.name == "amr1" and c.touches_cache_itself
    db = change(with_subject(cluster + "/databases/default"))
    assert db.cache == c.cache and not db.touches_cache_itself
    ext = change(with_subject(cluster + "/databases/default/providers/Microsoft.Insights/diagnosticSettings/x"))
    assert ext.cache == c.cache


@pytest.mark.parametrize(
    ("subject", "fragment"),
    [
        (f"{CACHE}/../other", "'..'"),
        (f"{CACHE}/firewallRules", "not a child resource type"),  # child type without a name
        (f"{CACHE}/secrets/x", "not a child resource type"),
        ("/subscriptions/not-a-guid/resourceGroups/rg/providers/Microsoft.Cache/Redis/c", "GUID"),
        (f"/subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.Cache/redisEnterprise/c/firewallRules/x",
         "not a child resource type"),
        (f"{CACHE}/providers/Microsoft.Foo/bars/x", "not one redis-warden follows"),
    ],
)
def test_bad_resource_id_is_ignored_with_parser_message(subject: str, fragment: str) -> None:
    ev = ignored(with_subject(subject))
    assert ev.reason.startswith("not a cache we govern") and fragment in ev.reason
    assert ev.subject == subject


@pytest.mark.parametrize("name", ["jane.doe@contoso.co.uk", "Jane_Doe", "x" * 70])
def test_a_refused_subject_is_never_quoted_in_the_reason(name: str) -> None:
    """A forged subject can carry a person's UPN where a cache, cluster, database or child name belongs; the
    reason says what is wrong without quoting it (UK GDPR minimisation; it once quoted `cache name '...'`)."""
    cluster = f"/subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.Cache/redisEnterprise"
    for subject in (f"{CACHE}".rsplit("/", 1)[0] + f"/{name}", f"{cluster}/{name}", f"{cluster}/amr1/databases/{name}",
                    f"{CACHE}/{name}/x"):
        ev = ignored(with_subject(subject))
        assert ev.reason.startswith("not a cache we govern"), ev.reason
        assert name not in ev.reason and name[:8] not in ev.reason, ev.reason


# ---------------------------------------------------------------------------------------- consistency


def test_resource_uri_must_match_subject() -> None:
    event = eg_event()
    event["data"]["resourceUri"] = CACHE.replace("payments-cache", "other-cache")
    assert "resourceUri" in ignored(event).reason


def test_subscription_id_must_match_subject() -> None:
    event = eg_event()
    event["data"]["subscriptionId"] = "00000000-0000-0000-0000-000000000000"
    assert "subscriptionId" in ignored(event).reason


def test_topic_and_source_must_match_subject() -> None:
    assert "topic" in ignored(eg_event(topic="/subscriptions/00000000-0000-0000-0000-000000000000")).reason
    assert "topic" in ignored(eg_event(topic="/somewhere/else")).reason
    rg_topic = eg_event(topic=f"/subscriptions/{SUB}/resourceGroups/rg-payments")
    assert change(rg_topic).cache == parse_cache_id(CACHE)
    ce = copy.deepcopy(load("redis-write.cloudevents.json")[0])
    ce["source"] = "/subscriptions/00000000-0000-0000-0000-000000000000"
    assert "source" in ignored(ce).reason


def test_optional_consistency_fields_may_be_absent() -> None:
    event = eg_event()
    for key in ("resourceUri", "subscriptionId", "operationName", "correlationId", "claims", "authorization"):
        del event["data"][key]
    del event["topic"]
    c = change(event)
    assert c.operation_name is None and c.correlation_id is None
    assert c.actor.object_id is None and c.actor.app_id is None


# ---------------------------------------------------------------------------------------- types & claims


@pytest.mark.parametrize(
    "event_type",
    ["Microsoft.Resources.ResourceActionSuccess", "Microsoft.Resources.ResourceWriteFailure",
     "Microsoft.ResourceNotifications.Resources.CreatedOrUpdated"],
)
def test_other_event_types_are_ignored(event_type: str) -> None:
    ev = ignored(eg_event(eventType=event_type))
    assert "not a resource write or delete" in ev.reason and ev.event_type == event_type


def test_event_type_case_insensitive() -> None:
    assert change(eg_event(eventType="microsoft.resources.resourcedeletesuccess")).is_delete


def test_short_claim_names_and_empty_claims() -> None:
    event = eg_event()
    event["data"]["claims"] = {"oid": "o-1", "azp": "a-1", "upn": "u@x", "idtyp": "user"}
    del event["data"]["authorization"]
    a = change(event).actor
    assert (a.object_id, a.app_id, a.upn, a.principal_type) == ("o-1", "a-1", "u@x", "User")
    event["data"]["claims"] = {}
    a = change(event).actor
    assert a.object_id is None and a.app_id is None and a.upn is None and a.principal_type is None
    event["data"]["claims"] = {"oid": 5, "appid": ["x"]}  # non-string claims are not believed
    a = change(event).actor
    assert a.object_id is None and a.app_id is None


# ---------------------------------------------------------------------------------------- time


def test_time_parsing() -> None:
    assert parse_time("2026-11-28T09:14:03.5123456Z") == datetime(2026, 11, 28, 9, 14, 3, 512345, tzinfo=UTC)
    assert parse_time("2026-11-28T09:14:03Z") == datetime(2026, 11, 28, 9, 14, 3, tzinfo=UTC)
    converted = parse_time("2026-11-28T09:14:03.5+01:00")
    assert converted == datetime(2026, 11, 28, 8, 14, 3, 500000, tzinfo=UTC)
    assert converted.tzinfo is UTC


def test_cloudevent_offset_time_is_converted_to_utc() -> None:
    ce = copy.deepcopy(load("redis-write.cloudevents.json")[0])
    ce["time"] = "2026-11-28T10:14:03.5123456+01:00"
    assert change(ce).event_time == datetime(2026, 11, 28, 9, 14, 3, 512345, tzinfo=UTC)


@pytest.mark.parametrize("value", ["2026-11-28 09:14:03Z", "2026-11-28T09:14:03", "2026-13-01T00:00:00Z",
                                   "2026-11-28T25:00:00Z", "yesterday"])
def test_bad_times_are_malformed(value: str) -> None:
    assert "malformed" in ignored(eg_event(eventTime=value)).reason


# ---------------------------------------------------------------------------------------- malformed


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ("not json", "not JSON"),
        (b"\xff\xfe\x00", "not UTF-8"),
        ("42", "not an event object"),
        ('"a string"', "not an event object"),
        ("null", "not an event object"),
        ("[]", "empty array"),
        ('{"id": "1", "id": "2"}', "duplicate key"),
        ("[" * 50_000, "not JSON"),
        ("{}", "neither an Event Grid event"),
    ],
)
def test_unreadable_bodies_give_one_ignored_event(body: str | bytes, fragment: str) -> None:
    ev = ignored(body)
    assert fragment in ev.reason and ev.event_id is None


def test_oversized_body_is_refused() -> None:
    event = eg_event()
    event["data"]["padding"] = "x" * MAX_BODY_BYTES
    assert "larger than" in ignored(json.dumps(event)).reason
    assert "larger than" in ignored(json.dumps(event).encode()).reason


def _drop(key: str) -> dict[str, Any]:
    event = eg_event()
    del event[key]
    return event


@pytest.mark.parametrize(
    ("event", "fragment"),
    [
        (_drop("id"), "missing id"),
        (_drop("subject"), "missing subject"),
        (_drop("eventTime"), "missing eventTime"),
        (_drop("data"), "data must be an object"),
        (eg_event(id=5), "id must be a non-empty string"),
        (eg_event(id=""), "id must be a non-empty string"),
        (eg_event(subject=["x"]), "subject must be"),
        (eg_event(data="x"), "data must be an object"),
        (eg_event(topic=7), "topic must be"),
        (eg_event(specversion="1.0"), "mixes"),
    ],
)
def test_malformed_events(event: dict[str, Any], fragment: str) -> None:
    ev = ignored(event)
    assert ev.reason.startswith("malformed event") and fragment in ev.reason


def test_malformed_data_members() -> None:
    event = eg_event()
    event["data"]["claims"] = "oid=me"
    assert "data.claims" in ignored(event).reason
    event = eg_event()
    event["data"]["resourceUri"] = 12
    assert "resourceUri" in ignored(event).reason


def test_cloudevents_validation() -> None:
    base = load("redis-write.cloudevents.json")[0]
    old = {**base, "specversion": "0.3"}
    assert "specversion" in ignored(old).reason
    no_source = {k: v for k, v in base.items() if k != "source"}
    assert "missing source" in ignored(no_source).reason
    no_time = {k: v for k, v in base.items() if k != "time"}
    assert "missing time" in ignored(no_time).reason
    b64 = {**base, "data_base64": "e30="}
    assert "malformed" in ignored(b64).reason


def test_malformed_event_in_a_batch_does_not_hide_the_others() -> None:
    good = load("redis-write.eventgrid.json")[0]
    results = parse_message(json.dumps([good, 5, _drop("id"), good]))
    assert [type(r).__name__ for r in results] == ["CacheChange", "IgnoredEvent", "IgnoredEvent", "CacheChange"]


# ---------------------------------------------------------------------------------------- never raises

_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4),
    max_leaves=20,
)
_keys = ["id", "subject", "eventType", "eventTime", "topic", "dataVersion", "data", "specversion", "type",
         "time", "source", "metadataVersion", "datacontenttype", "dataschema"]
_data_keys = ["claims", "authorization", "resourceUri", "subscriptionId", "operationName", "correlationId"]


def _valid(result: list[Any]) -> bool:
    return bool(result) and all(isinstance(r, CacheChange | IgnoredEvent) for r in result)


@settings(max_examples=150, deadline=None)
@given(st.binary(max_size=400))
def test_arbitrary_bytes_never_raise(body: bytes) -> None:
    assert _valid(parse_message(body))


@settings(max_examples=150, deadline=None)
@given(_json)
def test_arbitrary_json_never_raises(doc: Any) -> None:
    assert _valid(parse_message(json.dumps(doc)))


@settings(max_examples=200, deadline=None)
@given(
    st.sampled_from(["redis-write.eventgrid.json", "redis-write.cloudevents.json"]),
    st.sampled_from(_keys + [f"data.{k}" for k in _data_keys]),
    _json,
)
def test_mutated_samples_never_raise(sample: str, key: str, value: Any) -> None:
    event = load(sample)[0]
    if key.startswith("data."):
        if isinstance(event.get("data"), dict):
            event["data"][key[5:]] = value
    else:
        event[key] = value
    result = parse_message(json.dumps(event))
    assert _valid(result)
    if isinstance(result[0], CacheChange):
        assert result[0].event_time.tzinfo is not None
        assert isinstance(result[0].event_id, str) and result[0].event_id


def test_the_callers_type_comes_from_its_token_not_from_the_role_assignment_evidence() -> None:
    """`authorization.evidence.principalType` names the assignment's principal: a person allowed through a
    group shows `Group` there. The caller is still a user."""
    event = eg_event()
    event["data"]["authorization"] = {"evidence": {"principalType": "Group", "role": "Contributor"}}
    event["data"]["claims"] = {"oid": "o-1", "appid": "a-1", "upn": "jane@x", "scp": "user_impersonation"}
    assert change(event).actor.principal_type == "User"
    event["data"]["claims"] = {"oid": "o-2", "appid": "a-2"}  # app-only token: appid + oid, no scp/upn
    assert change(event).actor.principal_type == "ServicePrincipal"
    event["data"]["claims"] = {"oid": "o-2", "appid": "a-2", "idtyp": "app",
                               "xms_mirid": "/subscriptions/s/resourcegroups/r/providers/"
                                            "Microsoft.ManagedIdentity/userAssignedIdentities/id"}
    assert change(event).actor.principal_type == "ManagedIdentity"
