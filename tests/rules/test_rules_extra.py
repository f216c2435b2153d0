"""The remaining Azure Cache for Redis rules: public-network-access, entra-auth, access-keys, diagnostic-logs,
data-residency, no-auth, metric-alerts. Each rule is pure, so tests build snapshots and contexts directly."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from remediators.models import (
    CacheSnapshot,
    CreateDiagnosticSetting,
    CreateMetricAlerts,
    DiagnosticLog,
    DiagnosticSetting,
    ManualFix,
    MetricAlert,
    PrivateEndpointConnection,
    PropertyFix,
    Status,
)
from remediators.resource_ids import parse_cache_id
from remediators.rules import rule_by_id
from remediators.rules.base import RuleContext

SUB = "11111111-2222-3333-4444-555555555555"
RG = f"/subscriptions/{SUB}/resourceGroups/rg-app"
CACHE = f"{RG}/providers/Microsoft.Cache/Redis/cache1"
AMR = f"{RG}/providers/Microsoft.Cache/redisEnterprise/amr1"
WS = f"/subscriptions/{SUB}/resourceGroups/rg-ops/providers/Microsoft.OperationalInsights/workspaces/ws1"
AG = f"/subscriptions/{SUB}/resourceGroups/rg-ops/providers/Microsoft.Insights/actionGroups/oncall"
PE = f"{RG}/providers/Microsoft.Network/privateEndpoints/pe1"

READY = RuleContext(opted_in=True, in_maintenance_window=True)
NOT_READY = RuleContext()

MY_RULES = (
    "public-network-access",
    "entra-auth",
    "access-keys",
    "diagnostic-logs",
    "data-residency",
    "no-auth",
    "metric-alerts",
)


def snap(cache_id: str = CACHE, *, location: str = "uksouth", sku: str = "Standard", **kw: Any) -> CacheSnapshot:
    props = {"sku": {"name": sku, "family": "C", "capacity": 1}, **kw.pop("props", {})}
    return CacheSnapshot(
        cache_id=parse_cache_id(cache_id),
        resource={"id": cache_id, "location": location, "properties": props},
        **kw,
    )


def ev(rule_id: str, snapshot: CacheSnapshot, ctx: RuleContext = NOT_READY):
    return rule_by_id(rule_id).evaluate(snapshot, ctx)


def pec(status: str = "Approved", zones: tuple[str, ...] | None = ("default",)) -> PrivateEndpointConnection:
    return PrivateEndpointConnection(name="pec1", status=status, private_endpoint_id=PE, private_dns_zone_groups=zones)


# ---------------------------------------------------------------------------------------------- metadata


@pytest.mark.parametrize("rule_id", MY_RULES)
def test_metadata_is_complete(rule_id: str):
    md = rule_by_id(rule_id).metadata
    assert md.id == rule_id
    for text in (md.title, md.rationale, md.remediation, md.what_could_break):
        assert text.strip()
    assert md.pitfalls
    assert md.disruptive == (rule_id in {"public-network-access", "entra-auth", "access-keys"})


@pytest.mark.parametrize("rule_id", [r for r in MY_RULES if r != "data-residency"])
def test_azure_managed_redis_is_not_applicable(rule_id: str):
    assert ev(rule_id, snap(AMR), READY).status is Status.NOT_APPLICABLE


# ---------------------------------------------------------------------------------------------- public network


@pytest.mark.parametrize("value", ["Disabled", "disabled", "DISABLED"])
def test_pna_disabled_any_case_is_compliant(value: str):
    assert ev("public-network-access", snap(props={"publicNetworkAccess": value})).status is Status.COMPLIANT


@pytest.mark.parametrize("props", [{}, {"publicNetworkAccess": "Enabled"}, {"publicNetworkAccess": None}])
def test_pna_absent_or_enabled_is_non_compliant(props: dict[str, Any]):
    v = ev("public-network-access", snap(props=props, private_endpoint_connections=(pec(),)), READY)
    assert v.status is Status.NON_COMPLIANT
    assert v.remediation == PropertyFix({"publicNetworkAccess": "Disabled"})


@pytest.mark.parametrize(
    ("ctx", "kw", "props", "words"),
    [
        (RuleContext(in_maintenance_window=True), {"private_endpoint_connections": (pec(),)}, {}, "opted in"),
        (RuleContext(opted_in=True), {"private_endpoint_connections": (pec(),)}, {}, "maintenance window"),
        (READY, {"private_endpoint_connections": (pec(status="Pending"),)}, {}, "Approved"),
        (READY, {"private_endpoint_connections": ()}, {}, "Approved"),
        (READY, {"private_endpoint_connections": (pec(zones=None),)}, {}, "were not read"),
        (READY, {"private_endpoint_connections": (pec(zones=()),)}, {}, "no approved private endpoint has"),
        (READY, {"private_endpoint_connections": (pec(),)}, {"subnetId": f"{RG}/x/subnets/s"}, "VNet-injected"),
    ],
)
def test_pna_fix_needs_every_precondition(ctx: RuleContext, kw: dict, props: dict, words: str):
    v = ev("public-network-access", snap(props={"publicNetworkAccess": "Enabled", **props}, **kw), ctx)
    assert v.status is Status.NON_COMPLIANT
    assert isinstance(v.remediation, ManualFix)
    assert words in v.remediation.reason


def test_pna_inline_connections_count_but_their_dns_is_unknown():
    inline = {
        "publicNetworkAccess": "Enabled",
        "privateEndpointConnections": [
            {
                "id": f"{CACHE}/privateEndpointConnections/pec1",
                "properties": {
                    "privateEndpoint": {"id": PE},
                    "privateLinkServiceConnectionState": {"status": "Approved"},
                },
            }
        ],
    }
    v = ev("public-network-access", snap(props=inline), READY)
    assert isinstance(v.remediation, ManualFix)
    assert "were not read" in v.remediation.reason  # approved endpoint found, DNS evidence missing
    pending = {**inline, "privateEndpointConnections": [
        {"properties": {"privateEndpoint": {"id": PE}, "privateLinkServiceConnectionState": {"status": "Pending"}}}
    ]}
    assert "Approved" in ev("public-network-access", snap(props=pending), READY).remediation.reason


@given(
    value=st.one_of(st.none(), st.sampled_from(["Enabled", "Disabled", "enabled", ""]), st.text(max_size=8)),
    opted=st.booleans(),
    window=st.booleans(),
    status=st.sampled_from(["Approved", "Pending", "Rejected", "approved"]),
    zones=st.sampled_from([None, (), ("z",)]),
)
def test_pna_never_proposes_opening_access(value, opted, window, status, zones):
    v = ev(
        "public-network-access",
        snap(props={"publicNetworkAccess": value}, private_endpoint_connections=(pec(status, zones),)),
        RuleContext(opted_in=opted, in_maintenance_window=window),
    )
    assert v.remediation is None or isinstance(v.remediation, ManualFix) or v.remediation == PropertyFix(
        {"publicNetworkAccess": "Disabled"}
    )
    if isinstance(v.remediation, PropertyFix):
        assert opted and window and status.lower() == "approved" and zones


# ---------------------------------------------------------------------------------------------- entra


@pytest.mark.parametrize("cfg", [{"aad-enabled": "true"}, {"aad-enabled": "True"}, {"AAD-Enabled": "TRUE"}])
def test_entra_on_in_any_case_is_compliant(cfg: dict[str, str]):
    assert ev("entra-auth", snap(props={"redisConfiguration": cfg})).status is Status.COMPLIANT


@pytest.mark.parametrize("cfg", [None, {}, {"aad-enabled": "false"}, {"aad-enabled": "yes"}])
def test_entra_off_or_absent_is_non_compliant(cfg: dict[str, str] | None):
    v = ev("entra-auth", snap(props={"redisConfiguration": cfg}), READY)
    assert v.status is Status.NON_COMPLIANT
    assert v.remediation == PropertyFix({"redisConfiguration": {"aad-enabled": "true"}})


def test_entra_is_never_switched_on_for_basic_or_without_opt_in():
    basic = ev("entra-auth", snap(sku="Basic"), READY)
    assert isinstance(basic.remediation, ManualFix) and "Basic" in basic.remediation.reason
    not_opted = ev("entra-auth", snap(), RuleContext(in_maintenance_window=True))
    assert isinstance(not_opted.remediation, ManualFix) and "opted in" in not_opted.remediation.reason


# ---------------------------------------------------------------------------------------------- access keys

ENTRA_ON = {"redisConfiguration": {"aad-enabled": "true"}, "linkedServers": []}


@pytest.mark.parametrize(("value", "status"), [(True, Status.COMPLIANT), (False, Status.NON_COMPLIANT),
                                               (None, Status.NON_COMPLIANT), ("false", Status.NON_COMPLIANT)])
def test_access_keys_absent_counts_as_enabled(value: Any, status: Status):
    props = {**ENTRA_ON} if value is None else {**ENTRA_ON, "disableAccessKeyAuthentication": value}
    assert ev("access-keys", snap(props=props)).status is status


def test_access_keys_fix_only_after_entra_and_without_geo_replication():
    ok = ev("access-keys", snap(props=ENTRA_ON), READY)
    assert ok.remediation == PropertyFix({"disableAccessKeyAuthentication": True})
    no_entra = ev("access-keys", snap(props={"linkedServers": []}), READY)
    assert isinstance(no_entra.remediation, ManualFix) and "Entra" in no_entra.remediation.reason
    geo = ev("access-keys", snap(props={**ENTRA_ON, "linkedServers": [{"id": f"{CACHE}/linkedServers/c2"}]}), READY)
    assert isinstance(geo.remediation, ManualFix) and "geo-replicated" in geo.remediation.reason
    unread = ev("access-keys", snap(props={"redisConfiguration": {"aad-enabled": "true"}}), READY)
    assert isinstance(unread.remediation, ManualFix) and "not read" in unread.remediation.reason
    outside = ev("access-keys", snap(props=ENTRA_ON), RuleContext(opted_in=True))
    assert isinstance(outside.remediation, ManualFix)


# ---------------------------------------------------------------------------------------------- no-auth


@pytest.mark.parametrize(("cfg", "status"), [
    ({"authnotrequired": "true"}, Status.NON_COMPLIANT),
    ({"AuthNotRequired": "True"}, Status.NON_COMPLIANT),
    ({"authnotrequired": "false"}, Status.COMPLIANT),
    ({}, Status.COMPLIANT),
    (None, Status.COMPLIANT),
])
def test_no_auth(cfg: dict[str, str] | None, status: Status):
    v = ev("no-auth", snap(props={"redisConfiguration": cfg}), READY)
    assert v.status is status
    assert (v.remediation is not None) == (status is Status.NON_COMPLIANT)
    assert v.remediation is None or isinstance(v.remediation, ManualFix)


# ---------------------------------------------------------------------------------------------- residency


def partner(location: str | None, name: str = "cache2") -> dict[str, Any]:
    return {"name": name, "properties": {"linkedRedisCacheLocation": location, "serverRole": "Secondary"}}


@pytest.mark.parametrize("location", ["UK South", "uksouth", "UKSouth", "uk-south", "UK West"])
def test_residency_normalises_location_spellings(location: str):
    assert ev("data-residency", snap(location=location, linked_servers=())).status is Status.COMPLIANT


def test_residency_flags_cache_and_partners():
    out = ev("data-residency", snap(location="West Europe", linked_servers=()))
    assert out.status is Status.NON_COMPLIANT and isinstance(out.remediation, ManualFix)
    bad_partner = ev("data-residency", snap(linked_servers=(partner("UK West"), partner("West US", "c3"))))
    assert bad_partner.status is Status.NON_COMPLIANT and "c3" in bad_partner.reason
    assert ev("data-residency", snap(linked_servers=(partner("UK West"),))).status is Status.COMPLIANT
    assert ev("data-residency", snap(linked_servers=(partner(None),))).status is Status.UNKNOWN


def test_residency_without_the_linked_list():
    assert ev("data-residency", snap(props={"linkedServers": []})).status is Status.COMPLIANT
    listed = snap(props={"linkedServers": [{"id": f"{CACHE}/linkedServers/c2"}]})
    assert ev("data-residency", listed).status is Status.UNKNOWN
    assert ev("data-residency", snap()).status is Status.UNKNOWN  # body says nothing: never compliant
    # out of region is decided even without the list
    assert ev("data-residency", snap(location="eastus")).status is Status.NON_COMPLIANT


def test_residency_parameters_and_enterprise():
    ctx = RuleContext(params={"allowedLocations": ("West Europe",)})
    assert ev("data-residency", snap(location="westeurope", linked_servers=()), ctx).status is Status.COMPLIANT
    assert ev("data-residency", snap(location="uksouth", linked_servers=()), ctx).status is Status.NON_COMPLIANT
    assert ev("data-residency", snap(AMR, location="northeurope", linked_servers=())).status is Status.NON_COMPLIANT


# ---------------------------------------------------------------------------------------------- diagnostics

OFFERED = ("ConnectedClientList", "MSEntraAuthenticationAuditLog")
WS_CTX = RuleContext(params={"workspaceId": WS})


def setting(name: str, workspace: str | None, *logs: tuple[str | None, str | None, bool]) -> DiagnosticSetting:
    return DiagnosticSetting(name=name, workspace_id=workspace, logs=tuple(DiagnosticLog(*x) for x in logs))


def diag(*settings: DiagnosticSetting, offered: tuple[str, ...] | None = OFFERED) -> CacheSnapshot:
    return snap(diagnostic_settings=settings, diagnostic_categories=offered)


def test_diag_unread_and_unconfigured():
    assert ev("diagnostic-logs", snap(), WS_CTX).status is Status.UNKNOWN
    v = ev("diagnostic-logs", diag())
    assert v.status is Status.NON_COMPLIANT and isinstance(v.remediation, ManualFix)
    assert "WARDEN_LOG_ANALYTICS_WORKSPACE_RESOURCE_ID" in v.remediation.reason


@pytest.mark.parametrize(
    "settings",
    [
        (setting("s", WS.upper(), (None, "allLogs", True)),),
        (setting("s", WS + "/", ("ConnectedClientList", None, True), ("MSEntraAuthenticationAuditLog", None, True)),),
        (setting("a", WS, ("connectedclientlist", None, True)), setting("b", WS, (None, "audit", True))),
    ],
    ids=["allLogs-case-insensitive-id", "explicit-categories", "split-across-settings"],
)
def test_diag_compliant(settings: tuple[DiagnosticSetting, ...]):
    assert ev("diagnostic-logs", diag(*settings), WS_CTX).status is Status.COMPLIANT


def test_diag_creates_warden_setting_when_nothing_conflicts():
    elsewhere = setting("siem", WS.replace("ws1", "ws2"), (None, "allLogs", True))
    disabled = setting("old", WS, (None, "allLogs", False))
    v = ev("diagnostic-logs", diag(elsewhere, disabled), WS_CTX)
    assert v.status is Status.NON_COMPLIANT
    assert v.remediation == CreateDiagnosticSetting(name="warden-logs", workspace_id=WS, categories=OFFERED)
    # our own setting, incomplete but aimed at the workspace, is simply rewritten
    ours = setting("warden-logs", WS, ("ConnectedClientList", None, True))
    assert isinstance(ev("diagnostic-logs", diag(ours), WS_CTX).remediation, CreateDiagnosticSetting)


def test_diag_refuses_duplicate_sink_and_other_blockers():
    audit_only = setting("sec-audit", WS, (None, "audit", True))
    v = ev("diagnostic-logs", diag(audit_only), WS_CTX)
    assert v.status is Status.NON_COMPLIANT and "ConnectedClientList" in v.reason
    assert isinstance(v.remediation, ManualFix) and "sec-audit" in v.remediation.reason
    hijack = setting("warden-logs", WS.replace("ws1", "other"), (None, "allLogs", True))
    assert "another destination" in ev("diagnostic-logs", diag(hijack), WS_CTX).remediation.reason
    full = [setting(f"s{i}", None) for i in range(5)]
    assert "max 5" in ev("diagnostic-logs", diag(*full), WS_CTX).remediation.reason
    assert "not read" in ev("diagnostic-logs", diag(offered=None), WS_CTX).remediation.reason
    v = ev("diagnostic-logs", diag(offered=("ConnectedClientList",)), WS_CTX)
    assert "does not offer MSEntraAuthenticationAuditLog" in v.remediation.reason


# ---------------------------------------------------------------------------------------------- metric alerts

AG_CTX = RuleContext(params={"actionGroupId": AG})


def alert(*metrics: str, scope: str = CACHE, group: str = AG, enabled: bool = True) -> MetricAlert:
    return MetricAlert(id=f"{RG}/providers/Microsoft.Insights/metricAlerts/{'-'.join(metrics)}",
                       scopes=(scope,), metrics=metrics, action_group_ids=(group,), enabled=enabled)


def test_alerts_unread_and_unconfigured():
    assert ev("metric-alerts", snap(), AG_CTX).status is Status.UNKNOWN
    v = ev("metric-alerts", snap(metric_alerts=()))
    assert isinstance(v.remediation, ManualFix) and "WARDEN_ACTION_GROUP_RESOURCE_ID" in v.remediation.reason


def test_alerts_compliant_with_variants_case_and_wider_scopes():
    alerts = (
        alert("allserverLoad", scope=RG),
        alert("CACHELATENCY", group=AG.upper()),
        alert("allcacheRead", "cacheWrite", scope=f"/subscriptions/{SUB}"),
    )
    assert ev("metric-alerts", snap(metric_alerts=alerts), AG_CTX).status is Status.COMPLIANT


def test_alerts_that_do_not_count():
    ignored = (
        alert("serverLoad", enabled=False),
        alert("cacheLatency", group=AG.replace("oncall", "nobody")),
        alert("cacheRead", scope=CACHE.replace("cache1", "cache10")),  # a prefix, not a parent
        alert("cacheWrite"),
    )
    v = ev("metric-alerts", snap(metric_alerts=ignored), AG_CTX)
    assert v.status is Status.NON_COMPLIANT
    assert v.reason.endswith("serverLoad, cacheLatency, cacheRead")
    assert isinstance(v.remediation, ManualFix) and "cacheRead" in v.remediation.reason  # no bandwidth default


def test_alerts_created_with_thresholds():
    have = (alert("cacheRead", "cacheWrite"),)
    v = ev("metric-alerts", snap(metric_alerts=have), AG_CTX)
    assert isinstance(v.remediation, CreateMetricAlerts)
    assert v.remediation.action_group_id == AG
    assert [(a.metric, a.threshold) for a in v.remediation.alerts] == [("serverLoad", 80.0), ("cacheLatency", 15000.0)]
    ctx = RuleContext(params={"actionGroupId": AG, "thresholds": {"cacheRead": 5e7, "cacheWrite": 5e7,
                                                                   "serverLoad": 70}})
    v = ev("metric-alerts", snap(metric_alerts=()), ctx)
    assert {a.metric: a.threshold for a in v.remediation.alerts} == {
        "serverLoad": 70.0, "cacheLatency": 15000.0, "cacheRead": 5e7, "cacheWrite": 5e7,
    }
    assert all(a.name.startswith("warden-cache1-") for a in v.remediation.alerts)
