"""The baseline document: loading, refusal with a JSON pointer, scope resolution, windows, exemptions,
evaluation into findings, needs, hashing and diffs. Uses the real rule registry throughout."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from remediators.baseline import (
    DEFAULT_PATH,
    SCHEMA_PATH,
    BaselineError,
    diff_baselines,
    exemption_tag_ids,
    load_baseline,
    settings_defaults,
)
from remediators.models import CacheSnapshot, Effect, ManualFix, PropertyFix, Severity, Status
from remediators.resource_ids import CacheKind, parse_cache_id
from remediators.rules import ALL_RULES, rule_ids

SUB = "11111111-2222-3333-4444-555555555555"
OTHER_SUB = "99999999-2222-3333-4444-555555555555"
RG = f"/subscriptions/{SUB}/resourceGroups/rg-app"
CACHE = f"{RG}/providers/Microsoft.Cache/Redis/cache1"
OTHER_CACHE = f"{RG}/providers/Microsoft.Cache/Redis/cache2"
AMR = f"{RG}/providers/Microsoft.Cache/redisEnterprise/amr1"
WORKSPACE = f"/subscriptions/{SUB}/resourceGroups/rg-ops/providers/Microsoft.OperationalInsights/workspaces/ws1"
NOW = datetime(2025, 7, 2, 12, 0, tzinfo=UTC)  # a Wednesday, BST


def doc(**overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "version": 1,
        "dryRun": False,
        "rules": {
            "non-ssl-port": {"effect": "remediate"},
            "public-network-access": {"effect": "audit"},
            "entra-auth": {"effect": "audit"},
        },
    }
    base.update(overrides)
    return base


LONDON = ZoneInfo("Europe/London")


def load(d: dict[str, Any]):
    return load_baseline(json.dumps(d))


def snapshot(cache_id: str = CACHE, *, tags: dict[str, str] | None = None, **props: Any) -> CacheSnapshot:
    resource = {
        "id": cache_id,
        "location": "UK South",
        "tags": tags or {},
        "properties": {
            "sku": {"name": "Standard", "family": "C", "capacity": 1},
            "enableNonSslPort": True,
            "minimumTlsVersion": "1.2",
            "publicNetworkAccess": "Enabled",
            "linkedServers": [],
            **props,
        },
    }
    return CacheSnapshot(
        cache_id=parse_cache_id(cache_id),
        resource=resource,
        firewall_rules=(),
        diagnostic_settings=(),
        diagnostic_categories=("ConnectedClientList", "MSEntraAuthenticationAuditLog"),
        linked_servers=(),
    )


def by_rule(findings) -> dict[str, Any]:
    return {f.rule: f for f in findings}


# ---------------------------------------------------------------------------------------------- loading


def test_shipped_default_follows_the_guidance():
    b = load_baseline(None)
    assert b.dry_run is False  # WARDEN_DRY_RUN (true on a fresh deploy) is the one switch
    expected = {
        "non-ssl-port": Effect.REMEDIATE,
        "tls-min-version": Effect.REMEDIATE,
        "firewall": Effect.REMEDIATE,
        "diagnostic-logs": Effect.REMEDIATE,
        "metric-alerts": Effect.REMEDIATE,
        "public-network-access": Effect.AUDIT,
        "entra-auth": Effect.AUDIT,
        "access-keys": Effect.AUDIT,
        "data-residency": Effect.AUDIT,
        "no-auth": Effect.AUDIT,
    }
    assert {rid: b.effect(rid) for rid in expected} == expected
    # every registered rule is named explicitly, so none runs on an implicit default
    assert set(json.loads(DEFAULT_PATH.read_text())["rules"]) == set(rule_ids())
    assert b.allowed_ranges(parse_cache_id(CACHE)) is None


def test_schema_lists_exactly_the_registered_rules():
    schema = json.loads(SCHEMA_PATH.read_text())
    assert schema["$defs"]["ruleId"]["enum"] == list(rule_ids())
    assert set(schema["$defs"]["parameters"]) == set(rule_ids())


def test_sources_path_inline_and_default_agree(tmp_path: Path):
    d = doc()
    path = tmp_path / "b.json"
    path.write_text(json.dumps(d, indent=4))
    from_path, inline = load_baseline(str(path)), load_baseline("  " + json.dumps(d))
    assert from_path.version_hash == inline.version_hash
    assert load_baseline(None).version_hash == load_baseline(str(DEFAULT_PATH)).version_hash


def test_version_hash_is_sha256_of_canonical_json():
    d = doc(exemptions=[])
    expected = hashlib.sha256(json.dumps(d, sort_keys=True, separators=(",", ":")).encode()).hexdigest()
    assert load(d).version_hash == expected
    reordered = json.dumps(dict(reversed(list(d.items()))), indent=3)
    assert load_baseline(reordered).version_hash == expected
    assert load(doc(dryRun=True)).version_hash != expected


def test_missing_file_and_bad_json_are_refused(tmp_path: Path):
    with pytest.raises(BaselineError, match="cannot read baseline file"):
        load_baseline(str(tmp_path / "nope.json"))
    with pytest.raises(BaselineError, match=r"not valid JSON.*line 1"):
        load_baseline('{"version": 1,')


BAD_DOCUMENTS = [
    (doc(rules={"bogus": {"effect": "audit"}}), "/rules/bogus", "unknown rule id"),
    (doc(rules={"firewall": {"effect": "enforce"}}), "/rules/firewall/effect", ""),
    (doc(extra=1), "/extra", "unknown field"),
    (doc(version=2), "/version", ""),
    (
        doc(rules={"firewall": {"effect": "remediate", "parameters": {"allowedRanges": ["10.0.0.0/8", "10.1/33"]}}}),
        "/rules/firewall/parameters/allowedRanges/1",
        "",
    ),
    (
        doc(rules={"firewall": {"effect": "remediate", "parameters": {"maxRules": 0}}}),
        "/rules/firewall/parameters/maxRules",
        "",
    ),
    (
        doc(rules={"diagnostic-logs": {"effect": "remediate", "parameters": {"workspaceId": "/subscriptions/x"}}}),
        "/rules/diagnostic-logs/parameters/workspaceId",
        "not an ARM id",
    ),
    (doc(scopes=[{"scope": "/subscriptions/not-a-guid"}]), "/scopes/0/scope", "subscription id"),
    (doc(scopes=[{"scope": RG}, {"scope": RG.upper().replace("SUBSCRIPTIONS", "subscriptions")}]), "/scopes/1/scope",
     "already configured"),
    (doc(scopes=[{"scope": RG, "optIn": ["nope"]}]), "/scopes/0/optIn/0", ""),
    (doc(scopes=[{"scope": RG, "optIn": ["non-ssl-port"]}]), "/scopes/0/optIn/0", "no disruptive remediation"),
    (doc(scopes=[{"scope": RG, "parameters": {"bogus": {}}}]), "/scopes/0/parameters/bogus", "unknown rule id"),
    (
        doc(scopes=[{"scope": RG, "maintenanceWindows": [
            {"days": ["Sat"], "start": "01:00", "end": "05:00", "timezone": "Mars/Olympus"}]}]),
        "/scopes/0/maintenanceWindows/0/timezone",
        "unknown time zone",
    ),
    (
        doc(scopes=[{"scope": RG, "maintenanceWindows": [
            {"days": ["Sat"], "start": "25:00", "end": "05:00", "timezone": "Europe/London"}]}]),
        "/scopes/0/maintenanceWindows/0/start",
        "not a time of day",
    ),
    (
        doc(scopes=[{"scope": RG, "maintenanceWindows": [
            {"days": ["Sat"], "start": "01:00", "end": "01:00", "timezone": "Europe/London"}]}]),
        "/scopes/0/maintenanceWindows/0/end",
        "",
    ),
    (
        doc(scopes=[{"scope": RG, "maintenanceWindows": [
            {"days": ["Saturday"], "start": "01:00", "end": "02:00", "timezone": "Europe/London"}]}]),
        "/scopes/0/maintenanceWindows/0/days/0",
        "",
    ),
]


def _exemption(**kw: Any) -> dict[str, Any]:
    base = {
        "id": "EX-1",
        "rule": "non-ssl-port",
        "scope": CACHE,
        "expires": "2025-12-31",
        "justification": "legacy client on 6379 until migration",
        "approver": "cab@example.org",
    }
    base.update(kw)
    return base


BAD_DOCUMENTS += [
    (doc(exemptions=[_exemption(expires="2025-12-31T10:00:00")]), "/exemptions/0/expires", "no UTC offset"),
    (doc(exemptions=[_exemption(expires="31/02/2025")]), "/exemptions/0/expires", "DD/MM/YYYY"),
    (doc(exemptions=[_exemption(expires="12-31-2025")]), "/exemptions/0/expires", "ISO 8601"),
    (doc(exemptions=[_exemption(), _exemption()]), "/exemptions/1/id", "already used"),
    (doc(exemptions=[_exemption(rule="nope")]), "/exemptions/0/rule", ""),
    (doc(exemptions=[{k: v for k, v in _exemption().items() if k != "approver"}]), "/exemptions/0/approver",
     "required"),
]


@pytest.mark.parametrize(("document", "path", "words"), BAD_DOCUMENTS, ids=[p for _, p, _ in BAD_DOCUMENTS])
def test_refusals_name_the_field(document: dict[str, Any], path: str, words: str):
    with pytest.raises(BaselineError) as info:
        load(document)
    assert info.value.path == path
    assert str(info.value).startswith(f"{path}: ")
    assert words in str(info.value)


def test_an_absent_dry_run_leaves_the_app_setting_to_decide():
    d = doc()
    del d["dryRun"]
    assert load(d).dry_run is False
    assert load(doc(dryRun=True)).dry_run is True


def test_the_shipped_baseline_carries_no_dry_run_of_its_own():
    import json
    from pathlib import Path

    shipped = json.loads((Path(__file__).resolve().parents[2] / "remediators/default_baseline.json").read_text())
    assert "dryRun" not in shipped


def test_unnamed_rules_never_remediate():
    b = load(doc())  # names non-ssl-port, public-network-access and entra-auth only
    assert b.effect("non-ssl-port") is Effect.REMEDIATE
    assert b.effect("tls-min-version") is Effect.AUDIT  # default remediate, downgraded
    assert b.effect("firewall") is Effect.AUDIT
    assert b.effect("no-auth") is Effect.AUDIT


def test_loaded_parameters_are_read_only():
    b = load(doc(rules={"data-residency": {"effect": "audit", "parameters": {"allowedLocations": ["uksouth"]}}}))
    params = b.parameters(parse_cache_id(CACHE), "data-residency")
    with pytest.raises(TypeError):
        params["allowedLocations"] = ["eastus"]  # type: ignore[index]
    assert params["allowedLocations"] == ("uksouth",)


# ---------------------------------------------------------------------------------------------- scopes


def _scoped_doc() -> dict[str, Any]:
    return doc(
        rules={
            "firewall": {"effect": "remediate", "parameters": {"allowedRanges": ["10.0.0.0/8"], "maxRules": 5}},
            "public-network-access": {"effect": "audit"},
            "entra-auth": {"effect": "remediate"},
        },
        scopes=[
            {
                "scope": CACHE.upper().replace("SUBSCRIPTIONS", "subscriptions"),  # ids are case-insensitive
                "parameters": {"firewall": {"maxRules": 2}},
                "optIn": [],
            },
            {"scope": f"/subscriptions/{SUB}", "parameters": {"firewall": {"allowedRanges": ["192.168.0.0/16"]}},
             "optIn": ["entra-auth"]},
            {"scope": RG, "parameters": {"firewall": {"maxRangeSize": 16}},
             "optIn": ["entra-auth", "public-network-access"]},
        ],
    )


def test_most_specific_scope_wins_key_by_key():
    b = load(_scoped_doc())
    cache, sibling = parse_cache_id(CACHE), parse_cache_id(OTHER_CACHE)
    elsewhere = parse_cache_id(CACHE.replace(SUB, OTHER_SUB))
    assert dict(b.parameters(cache, "firewall")) == {
        "allowedRanges": ("192.168.0.0/16",),  # subscription over the document default
        "maxRangeSize": 16,  # resource group
        "maxRules": 2,  # cache over the document default
    }
    assert dict(b.parameters(sibling, "firewall")) == {
        "allowedRanges": ("192.168.0.0/16",), "maxRangeSize": 16, "maxRules": 5,
    }
    assert dict(b.parameters(elsewhere, "firewall")) == {"allowedRanges": ("10.0.0.0/8",), "maxRules": 5}
    assert b.allowed_ranges(elsewhere) == ("10.0.0.0/8",)


def test_opt_in_is_taken_whole_from_the_most_specific_scope():
    b = load(_scoped_doc())
    assert b.opt_in(parse_cache_id(OTHER_CACHE)) == {"entra-auth", "public-network-access"}
    assert b.opt_in(parse_cache_id(CACHE)) == frozenset()  # the cache opted out of its group's opt-in
    assert b.opt_in(parse_cache_id(CACHE.replace(SUB, OTHER_SUB))) == frozenset()


# ---------------------------------------------------------------------------------------------- windows


def _window_doc(*windows: dict[str, Any]) -> dict[str, Any]:
    return doc(scopes=[{"scope": RG, "optIn": ["entra-auth"], "maintenanceWindows": list(windows)}])


def _in_window(b, when: datetime) -> bool:
    return b.context(parse_cache_id(CACHE), "entra-auth", when).in_maintenance_window


def test_window_follows_london_clocks_across_bst():
    b = load(_window_doc({"days": ["Sat"], "start": "01:00", "end": "05:00", "timezone": "Europe/London"}))
    assert _in_window(b, datetime(2025, 7, 5, 0, 30, tzinfo=UTC))  # 01:30 BST Saturday
    assert not _in_window(b, datetime(2025, 7, 5, 4, 30, tzinfo=UTC))  # 05:30 BST
    assert _in_window(b, datetime(2025, 1, 4, 4, 30, tzinfo=UTC))  # 04:30 GMT Saturday
    assert not _in_window(b, datetime(2025, 1, 4, 0, 30, tzinfo=UTC))  # 00:30 GMT: before the start
    assert not _in_window(b, datetime(2025, 7, 6, 0, 30, tzinfo=UTC))  # Sunday


def test_window_past_midnight_belongs_to_its_start_day():
    b = load(_window_doc({"days": ["Fri"], "start": "22:00", "end": "02:00", "timezone": "UTC"}))
    assert _in_window(b, datetime(2025, 7, 4, 23, 0, tzinfo=UTC))  # Friday night
    assert _in_window(b, datetime(2025, 7, 5, 1, 59, tzinfo=UTC))  # early Saturday
    assert not _in_window(b, datetime(2025, 7, 5, 2, 0, tzinfo=UTC))  # end is exclusive
    assert not _in_window(b, datetime(2025, 7, 3, 23, 0, tzinfo=UTC))  # Thursday night
    assert not _in_window(b, datetime(2025, 7, 4, 1, 0, tzinfo=UTC))  # early Friday: Thursday did not start


def test_whole_day_window_and_no_window():
    b = load(_window_doc({"days": ["Sun"], "start": "00:00", "end": "24:00", "timezone": "UTC"}))
    assert _in_window(b, datetime(2025, 7, 6, 23, 59, tzinfo=UTC))
    assert not _in_window(load(doc()), datetime(2025, 7, 6, 23, 59, tzinfo=UTC))


def test_naive_time_is_refused():
    with pytest.raises(ValueError, match="timezone-aware"):
        load(doc()).evaluate(snapshot(), now=datetime(2025, 7, 2, 12, 0))


# ---------------------------------------------------------------------------------------------- evaluate


def test_every_rule_reports_once_in_registry_order():
    findings = load_baseline(None).evaluate(snapshot(), now=NOW)
    assert [f.rule for f in findings] == [r.metadata.id for r in ALL_RULES]
    f = by_rule(findings)["non-ssl-port"]
    assert (f.status, f.effect, f.severity) == (Status.NON_COMPLIANT, Effect.REMEDIATE, Severity.HIGH)
    assert f.remediation == PropertyFix({"enableNonSslPort": False})


def test_findings_take_effect_from_baseline_and_severity_from_metadata():
    findings = by_rule(load(doc()).evaluate(snapshot(), now=NOW))
    severities = {r.metadata.id: r.metadata.severity for r in ALL_RULES}
    for f in findings.values():
        assert f.severity is severities[f.rule]
    pna = findings["public-network-access"]
    assert pna.effect is Effect.AUDIT and pna.status is Status.NON_COMPLIANT
    assert isinstance(pna.remediation, ManualFix)  # kept for the report; the planner acts on remediate only


def test_disabled_rule_is_reported_not_applicable_without_evaluating():
    d = doc(rules={"firewall": {"effect": "disabled"}, "non-ssl-port": {"effect": "remediate"}})
    snap = snapshot()
    unread = CacheSnapshot(cache_id=snap.cache_id, resource=snap.resource)  # firewall rules not read
    f = by_rule(load(d).evaluate(unread, now=NOW))["firewall"]
    assert (f.status, f.effect, f.remediation) == (Status.NOT_APPLICABLE, Effect.DISABLED, None)
    enabled = by_rule(load(doc(rules={"firewall": {"effect": "audit"}})).evaluate(unread, now=NOW))["firewall"]
    assert enabled.status is Status.UNKNOWN  # the contrast: an enabled rule with unread input


def test_enterprise_caches_get_not_applicable_except_residency():
    snap = CacheSnapshot(
        cache_id=parse_cache_id(AMR), resource={"id": AMR, "location": "westeurope", "properties": {}},
        linked_servers=(),
    )
    findings = by_rule(load_baseline(None).evaluate(snap, now=NOW))
    assert findings["data-residency"].status is Status.NON_COMPLIANT
    for rid in ("public-network-access", "entra-auth", "access-keys", "diagnostic-logs", "no-auth",
                "metric-alerts", "firewall", "non-ssl-port"):
        assert findings[rid].status is Status.NOT_APPLICABLE, rid


def test_opt_in_and_window_reach_the_rule():
    d = doc(
        rules={"entra-auth": {"effect": "remediate"}},
        scopes=[{"scope": CACHE, "optIn": ["entra-auth"], "maintenanceWindows": [
            {"days": ["Wed"], "start": "11:00", "end": "14:00", "timezone": "Europe/London"}]}],
    )
    inside = by_rule(load(d).evaluate(snapshot(), now=NOW))["entra-auth"]  # 13:00 BST Wednesday
    assert inside.remediation == PropertyFix({"redisConfiguration": {"aad-enabled": "true"}})
    outside = by_rule(load(d).evaluate(snapshot(), now=NOW + timedelta(hours=2)))["entra-auth"]
    assert isinstance(outside.remediation, ManualFix)
    assert "maintenance window" in outside.remediation.reason


# ---------------------------------------------------------------------------------------------- exemptions


def test_active_exemption_exempts_and_drops_the_remediation():
    b = load(doc(exemptions=[_exemption(scope=RG)]))
    f = by_rule(b.evaluate(snapshot(), now=NOW))["non-ssl-port"]
    assert f.status is Status.EXEMPT and f.compliant
    assert f.exemption is not None and f.exemption.id == "EX-1"
    assert f.remediation is None
    other = by_rule(b.evaluate(snapshot(), now=NOW))["public-network-access"]
    assert other.status is Status.NON_COMPLIANT  # the exemption is for one rule only


def test_date_expiry_lasts_to_the_end_of_the_london_day():
    b = load(doc(exemptions=[_exemption(expires="2025-06-30")]))
    last_minute = datetime(2025, 6, 30, 22, 59, tzinfo=UTC)  # 23:59 BST
    assert by_rule(b.evaluate(snapshot(), now=last_minute))["non-ssl-port"].status is Status.EXEMPT
    after = by_rule(b.evaluate(snapshot(), now=datetime(2025, 6, 30, 23, 0, tzinfo=UTC)))["non-ssl-port"]
    assert after.status is Status.NON_COMPLIANT
    assert after.exemption is None
    assert any("EX-1" in n and "expired" in n for n in after.notes)
    assert isinstance(after.remediation, PropertyFix)


def test_exemption_outside_its_scope_does_not_apply():
    b = load(doc(exemptions=[_exemption(scope=OTHER_CACHE)]))
    assert by_rule(b.evaluate(snapshot(), now=NOW))["non-ssl-port"].status is Status.NON_COMPLIANT


def test_tag_cannot_invent_or_stretch_an_exemption():
    b = load(doc(exemptions=[_exemption(scope=OTHER_CACHE)]))
    findings = by_rule(b.evaluate(snapshot(tags={"Warden-Exemption": "EX-404, EX-1"}), now=NOW))
    f = findings["non-ssl-port"]
    assert f.status is Status.NON_COMPLIANT
    assert any("EX-404" in n and "not honoured" in n for n in f.notes)
    assert any("EX-1" in n and "does not contain" in n for n in f.notes)
    assert any("EX-404" in n for n in findings["no-auth"].notes)  # an unknown id is reported everywhere


def test_exemption_does_not_mask_a_compliant_finding():
    b = load(doc(exemptions=[_exemption()]))
    f = by_rule(b.evaluate(snapshot(enableNonSslPort=False), now=NOW))["non-ssl-port"]
    assert f.status is Status.COMPLIANT and f.exemption is None


def test_exemption_tag_parsing():
    assert exemption_tag_ids({"warden-exemption": " a, b,,a ", "other": "c"}) == ("a", "b")
    assert exemption_tag_ids({}) == ()


# ---------------------------------------------------------------------------------------------- needs


def test_needs_follow_enabled_rules_and_kind():
    full = load_baseline(None)
    assert {"firewall_rules", "diagnostic_settings", "diagnostic_categories", "metric_alerts"} <= full.needs(
        CacheKind.REDIS
    )
    d = json.loads(DEFAULT_PATH.read_text())
    d["rules"]["diagnostic-logs"] = {"effect": "disabled"}
    d["rules"]["firewall"] = {"effect": "disabled"}
    trimmed = load(d).needs(CacheKind.REDIS)
    assert not trimmed & {"diagnostic_settings", "diagnostic_categories", "firewall_rules"}
    assert "metric_alerts" in trimmed
    assert full.needs(CacheKind.REDIS_ENTERPRISE) == frozenset(  # the Azure Managed Redis rules (issue 7)
        {"linked_servers", "diagnostic_settings", "diagnostic_categories", "private_dns_zone_groups",
         "access_policy_assignments", "key_expiry", "log_alert_rules", "policy_states"})


# ---------------------------------------------------------------------------------------------- defaults, diff


def test_settings_defaults_fill_in_but_the_document_wins():
    other_ws = WORKSPACE.replace("ws1", "ws2")
    cache = parse_cache_id(CACHE)
    plain = load_baseline(None, defaults=settings_defaults(WORKSPACE, None))
    assert plain.parameters(cache, "diagnostic-logs")["workspaceId"] == WORKSPACE
    assert plain.version_hash == load_baseline(None).version_hash
    d = doc(scopes=[{"scope": RG, "parameters": {"diagnostic-logs": {"workspaceId": other_ws}}}])
    scoped = load_baseline(json.dumps(d), defaults=settings_defaults(WORKSPACE, None))
    assert scoped.parameters(cache, "diagnostic-logs")["workspaceId"] == other_ws
    assert settings_defaults(None, None) == {}


def test_diff_reports_json_pointers():
    old = load(doc(exemptions=[_exemption()]))
    changed = doc(exemptions=[], scopes=[{"scope": RG, "optIn": ["entra-auth"]}])
    changed["rules"]["entra-auth"] = {"effect": "remediate"}
    changes = diff_baselines(old, load(changed))
    assert {"path": "/rules/entra-auth/effect", "op": "replace", "old": "audit", "new": "remediate"} in changes
    assert {"path": "/scopes", "op": "add", "old": None, "new": [{"scope": RG, "optIn": ["entra-auth"]}]} in changes
    removed = [c for c in changes if c["path"] == "/exemptions/0"]
    assert removed and removed[0]["op"] == "remove" and removed[0]["old"]["id"] == "EX-1"
    assert diff_baselines(old, old) == []


def test_a_uk_date_expiry_means_the_same_as_the_iso_date():
    uk, iso = load(doc(exemptions=[_exemption(expires="30/06/2025")])), load(doc(exemptions=[_exemption()]))
    assert uk.parsed.exemptions[0].exemption.expires == datetime(2025, 7, 1, tzinfo=LONDON)
    assert iso.parsed.exemptions[0].exemption.expires == datetime(2026, 1, 1, tzinfo=LONDON)


def test_an_already_expired_exemption_is_refused_with_a_clear_message_when_asked():
    text = json.dumps(doc(exemptions=[_exemption(expires="31/12/2025")]))
    with pytest.raises(BaselineError) as info:
        load_baseline(text, refuse_expired_at=datetime(2026, 1, 1, 0, 0, 1, tzinfo=UTC))
    message = str(info.value)
    assert "/exemptions/0/expires" in message and "'EX-1' expired at the end of 31/12/2025" in message
    assert "renew it" in message
    # the last second of the day is still inside it; the running app (no refuse_expired_at) loads it
    load_baseline(text, refuse_expired_at=datetime(2025, 12, 31, 23, 59, 59, tzinfo=UTC))
    load_baseline(text)
