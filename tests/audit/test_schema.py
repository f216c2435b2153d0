"""The record schema: hashing, required fields per kind, and UK GDPR minimisation of actors."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from remediators.audit.canonical import canonical_json, format_utc, to_jsonable
from remediators.audit.schema import GENESIS, RecordError, build_record, record_hash
from remediators.models import Actor, Severity
from remediators.resource_ids import parse_cache_id

from .conftest import BASELINE, CACHE, IDENTITY

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def make(kind: str = "detected", record_upn: bool = False, **kw: Any) -> dict[str, Any]:
    base = dict(kind=kind, chain="w1", seq=0, prev_hash=GENESIS, time=T0, writer="w1", baseline_hash=BASELINE,
                identity=IDENTITY, record_upn=record_upn)
    if kind == "detected":
        base["cache_id"] = CACHE
    base.update(kw)
    return build_record(**base)


def test_hash_is_sha256_of_canonical_record_without_hash() -> None:
    rec = make(rule="tls-min-version", severity="high", before={"minimumTlsVersion": "1.0"})
    body = {k: v for k, v in rec.items() if k != "hash"}
    expected = hashlib.sha256(
        json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    ).hexdigest()
    assert rec["hash"] == expected == record_hash(rec)
    assert rec["v"] == 1 and rec["prev_hash"] == GENESIS and rec["time"] == "2026-03-02T09:00:00.000000Z"


@given(st.dictionaries(st.text(min_size=1, max_size=8), st.integers() | st.text(max_size=8), max_size=5))
def test_any_change_to_any_field_changes_the_hash(before: dict[str, Any]) -> None:
    rec = make(before=before or None)
    for key in [k for k in rec if k != "hash"]:
        edited = dict(rec)
        edited[key] = "tampered" if rec[key] != "tampered" else "other"
        assert record_hash(edited) != rec["hash"]


def test_canonical_json_ignores_key_order_and_keeps_unicode() -> None:
    shuffled = {"a": {"c": [1, 2], "d": "é"}, "b": 1}
    assert canonical_json({"b": 1, "a": {"d": "é", "c": [1, 2]}}) == canonical_json(shuffled)
    assert canonical_json({"a": "é"}) == '{"a":"é"}'.encode()


def test_engine_values_become_plain_json() -> None:
    rid = parse_cache_id(CACHE)
    out = to_jsonable({"sev": Severity.HIGH, "when": T0, "cache": rid, "actor": Actor(object_id="o")})
    assert out == {"sev": "high", "when": format_utc(T0), "cache": rid.arm_id,
                   "actor": {"object_id": "o", "app_id": None, "principal_type": None, "upn": None, "name": None,
                             "managed_identity_id": None}}
    with pytest.raises(TypeError):
        to_jsonable({"x": float("nan")})


def test_upn_and_name_are_dropped_unless_allowed() -> None:
    trigger = {"event_id": "e1", "correlation_id": "c1",
               "actor": {"oid": "o1", "appid": "a1", "upn": "bob@contoso.com", "name": "Bob"}}
    drift = Actor(object_id="o1", app_id="a1", upn="bob@contoso.com", name="Bob")
    ident = {**IDENTITY, "name": "warden-mi"}
    rec = make(trigger=trigger, drift_actor=drift, identity=ident)
    assert rec["trigger"]["actor"] == {"oid": "o1", "appid": "a1"}
    assert rec["drift_actor"] == {"oid": "o1", "appid": "a1"}
    assert rec["identity"] == IDENTITY
    assert "bob@contoso.com" not in canonical_json(rec).decode()

    kept = make(trigger=trigger, drift_actor=drift, record_upn=True)
    assert kept["trigger"]["actor"]["upn"] == "bob@contoso.com"
    assert kept["drift_actor"] == {"oid": "o1", "appid": "a1", "upn": "bob@contoso.com", "name": "Bob"}


def test_unattributable_drift_is_unknown_with_the_correlation_id() -> None:
    rec = make(trigger={"event_id": "e1", "correlation_id": "corr-9"}, drift_actor="unknown")
    assert rec["drift_actor"] == {"unknown": True, "correlation_id": "corr-9"}
    with pytest.raises(RecordError):
        make(drift_actor="bob")


@pytest.mark.parametrize(
    ("kind", "kwargs", "message"),
    [
        ("no-such-kind", {}, "unknown audit kind"),
        ("detected", {"cache_id": None}, "needs a cache_id"),
        ("skipped-dry-run", {"cache_id": CACHE}, "dry_run_source"),
        ("skipped-exempt", {"cache_id": CACHE, "extra": {"exemption": {"id": "EX-1"}}}, "exemption"),
        ("baseline-changed", {}, "diff"),
        ("blocked", {"cache_id": CACHE}, "outcome"),
        ("scan-started", {}, "scan_id"),
        ("alert", {"extra": {"hash": "x"}}, "cannot be an extra"),
        ("alert", {"extra": {"Bad-Key": 1}}, "cannot be an extra"),
        ("detected", {"severity": "urgent"}, "severity"),
    ],
)
def test_records_a_reviewer_could_not_rely_on_are_refused(kind: str, kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(RecordError, match=message):
        make(kind, **kwargs)


def test_kind_specific_fields_are_kept() -> None:
    expires = datetime(2026, 12, 31, tzinfo=UTC)
    rec = make("skipped-exempt", cache_id=CACHE, rule="access-keys",
               extra={"exemption": {"id": "EX-7", "approver": "ciso-oid", "expires": expires}})
    assert rec["exemption"] == {"id": "EX-7", "approver": "ciso-oid", "expires": "2026-12-31T00:00:00.000000Z"}
    dry = make("skipped-dry-run", cache_id=CACHE, extra={"dry_run_source": "cli-flag"})
    assert dry["dry_run_source"] == "cli-flag"
