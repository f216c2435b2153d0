"""The Azure Managed Redis rules: each rule's verdicts, and the planner's steps for them (cluster PATCH vs
database PATCH, never widening access)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from remediators.baseline import load_baseline
from remediators.models import (
    CacheSnapshot,
    CreateDiagnosticSetting,
    DatabaseFix,
    DiagnosticLog,
    DiagnosticSetting,
    Effect,
    Finding,
    ManualAction,
    ManualFix,
    PatchCache,
    PatchDatabase,
    PrivateEndpointConnection,
    PropertyFix,
    PutDiagnosticSetting,
    Severity,
    Status,
)
from remediators.planning.planner import plan
from remediators.planning.safety import UnsafePlan, check_plan_safety
from remediators.resource_ids import parse_cache_id
from remediators.rules import rule_by_id
from remediators.rules.base import RuleContext, Verdict
from tests.amr_fleet import PE_ID, WORKSPACE, cluster_id

CLUSTER = parse_cache_id(cluster_id("amr1"))
NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
WS = RuleContext(params={"workspaceId": WORKSPACE})
OPTED = RuleContext(opted_in=True, in_maintenance_window=True)


def db(**props: Any) -> dict[str, Any]:
    return {"id": cluster_id("amr1") + "/databases/default", "name": "default",
            "properties": {"provisioningState": "Succeeded", **props}}


def snap(props: dict[str, Any] | None = None, *, dbs: tuple[dict[str, Any], ...] | None = (),
         **kw: Any) -> CacheSnapshot:
    resource = {"id": cluster_id("amr1"), "location": "UK South",
                "properties": {"provisioningState": "Succeeded", **(props or {})}}
    return CacheSnapshot(cache_id=CLUSTER, resource=resource, databases=dbs, **kw)


def ev(rule: str, snapshot: CacheSnapshot, ctx: RuleContext | None = None) -> Verdict:
    return rule_by_id(rule).evaluate(snapshot, ctx or RuleContext())


# ---------------------------------------------------------------------------------------------- amr-tls-min-version


@pytest.mark.parametrize(("value", "status"), [(None, Status.COMPLIANT), ("1.2", Status.COMPLIANT),
                                               ("1.3", Status.COMPLIANT), ("1.0", Status.NON_COMPLIANT),
                                               ("1.1", Status.NON_COMPLIANT), ("TLS1_2", Status.UNKNOWN)])
def test_tls(value: str | None, status: Status):
    v = ev("amr-tls-min-version", snap({} if value is None else {"minimumTlsVersion": value}))
    assert v.status is status
    if status is Status.NON_COMPLIANT:
        assert v.remediation == PropertyFix({"minimumTlsVersion": "1.2"})


# ---------------------------------------------------------------------------------------------- amr-client-protocol


def test_client_protocol():
    assert ev("amr-client-protocol", snap(dbs=None)).status is Status.UNKNOWN
    assert ev("amr-client-protocol", snap(dbs=())).status is Status.NOT_APPLICABLE
    assert ev("amr-client-protocol", snap(dbs=(db(),))).status is Status.COMPLIANT  # absent = Encrypted
    assert ev("amr-client-protocol", snap(dbs=(db(clientProtocol="encrypted"),))).status is Status.COMPLIANT
    v = ev("amr-client-protocol", snap(dbs=(db(clientProtocol="Plaintext"),)))
    assert v.status is Status.NON_COMPLIANT
    assert v.remediation == DatabaseFix({"default": {"clientProtocol": "Encrypted"}})
    assert ev("amr-client-protocol", snap(dbs=(db(clientProtocol="Quantum"),))).status is Status.UNKNOWN


# ---------------------------------------------------------------------------------------------- amr-access-keys

ASSIGNMENT = {"id": cluster_id("amr1") + "/databases/default/accessPolicyAssignments/app", "name": "app"}


def test_access_keys_compliance():
    assert ev("amr-access-keys", snap(dbs=None)).status is Status.UNKNOWN
    assert ev("amr-access-keys", snap(dbs=(db(accessKeysAuthentication="Disabled"),))).status is Status.COMPLIANT
    for value in ({}, {"accessKeysAuthentication": "Enabled"}):
        assert ev("amr-access-keys", snap(dbs=(db(**value),))).status is Status.NON_COMPLIANT  # absent = Enabled


@pytest.mark.parametrize(
    ("assignments", "ctx", "needle"),
    [
        (None, OPTED, "not read"),
        ((), OPTED, "no Entra access policy assignment"),
        ((ASSIGNMENT,), RuleContext(in_maintenance_window=True), "not opted in"),
        ((ASSIGNMENT,), RuleContext(opted_in=True), "maintenance window"),
    ],
)
def test_access_keys_entra_first_and_opt_in(assignments: Any, ctx: RuleContext, needle: str):
    v = ev("amr-access-keys", snap(dbs=(db(accessKeysAuthentication="Enabled"),),
                                   access_policy_assignments=assignments), ctx)
    assert isinstance(v.remediation, ManualFix) and needle in v.remediation.reason


def test_access_keys_fix_with_entra_evidence_opt_in_and_window():
    v = ev("amr-access-keys", snap(dbs=(db(accessKeysAuthentication="Enabled"),),
                                   access_policy_assignments=(ASSIGNMENT,)), OPTED)
    assert v.remediation == DatabaseFix({"default": {"accessKeysAuthentication": "Disabled"}})
    assert rule_by_id("amr-access-keys").metadata.disruptive


# ------------------------------------------------------------------------------------- amr-public-network-access


def pec(status: str = "Approved", groups: tuple[str, ...] | None = ("default",)) -> PrivateEndpointConnection:
    return PrivateEndpointConnection("pe1", status, PE_ID, "Succeeded", private_dns_zone_groups=groups)


def test_public_network_access_compliance():
    assert ev("amr-public-network-access", snap({"publicNetworkAccess": "disabled"})).status is Status.COMPLIANT
    for props in ({}, {"publicNetworkAccess": None}, {"publicNetworkAccess": "Enabled"}):
        v = ev("amr-public-network-access", snap(props))
        assert v.status is Status.NON_COMPLIANT and isinstance(v.remediation, ManualFix)  # audit-only by default


@pytest.mark.parametrize(
    ("conns", "needle"),
    [((), "no private endpoint connection is Approved"), ((pec("Pending"),), "no private endpoint"),
     ((pec(groups=None),), "were not read"), ((pec(groups=()),), "no approved private endpoint has")],
)
def test_public_network_access_needs_an_approved_endpoint_with_dns(conns: Any, needle: str):
    v = ev("amr-public-network-access", snap({"publicNetworkAccess": "Enabled"}, private_endpoint_connections=conns),
           OPTED)
    assert isinstance(v.remediation, ManualFix) and needle in v.remediation.reason


def test_public_network_access_fix_when_every_condition_holds():
    v = ev("amr-public-network-access", snap({"publicNetworkAccess": None}, private_endpoint_connections=(pec(),)),
           OPTED)
    assert v.remediation == PropertyFix({"publicNetworkAccess": "Disabled"})


# ---------------------------------------------------------------------------------------------- amr-diagnostic-logs


def setting(name: str, workspace: str | None, *logs: tuple[str | None, str | None, bool]) -> DiagnosticSetting:
    return DiagnosticSetting(name, workspace, tuple(DiagnosticLog(*x) for x in logs))


def diag(*settings: DiagnosticSetting, offered: tuple[str, ...] | None = ("ConnectionEvents",)) -> CacheSnapshot:
    return snap(dbs=(db(),), diagnostic_settings=settings, diagnostic_categories=offered)


def test_diagnostic_logs_compliance():
    assert ev("amr-diagnostic-logs", snap(dbs=(db(),)), WS).status is Status.UNKNOWN  # settings not read
    assert ev("amr-diagnostic-logs", snap(dbs=()), WS).status is Status.NOT_APPLICABLE
    for s in (setting("a", WORKSPACE.upper(), ("ConnectionEvents", None, True)),
              setting("b", WORKSPACE, (None, "allLogs", True)), setting("c", WORKSPACE + "/", (None, "audit", True))):
        assert ev("amr-diagnostic-logs", diag(s), WS).status is Status.COMPLIANT, s.name
    disabled = setting("a", WORKSPACE, ("ConnectionEvents", None, False))
    elsewhere = setting("b", WORKSPACE.replace("law-warden", "other"), ("ConnectionEvents", None, True))
    for s in (disabled, elsewhere):
        v = ev("amr-diagnostic-logs", diag(s), WS)
        assert v.remediation == CreateDiagnosticSetting("warden-logs", WORKSPACE, ("ConnectionEvents",))


@pytest.mark.parametrize(
    ("snapshot", "ctx", "needle"),
    [
        (diag(), RuleContext(), "workspaceId"),
        (diag(setting("warden-logs", "/subscriptions/x/other")), WS, "another destination"),
        (diag(*(setting(f"s{i}", None) for i in range(5))), WS, "max 5"),
        (diag(offered=None), WS, "were not read"),
        (diag(offered=("AllMetrics",)), WS, "does not offer ConnectionEvents"),
    ],
)
def test_diagnostic_logs_manual(snapshot: CacheSnapshot, ctx: RuleContext, needle: str):
    v = ev("amr-diagnostic-logs", snapshot, ctx)
    assert v.status is Status.NON_COMPLIANT and isinstance(v.remediation, ManualFix)
    assert needle in v.remediation.reason


# ---------------------------------------------------------------------------------------------- amr-cmk


def test_cmk():
    key = {"keyEncryptionKeyUrl": "https://kv.vault.azure.net/keys/k/1",
           "keyEncryptionKeyIdentity": {"identityType": "userAssignedIdentity"}}
    assert ev("amr-cmk", snap({"encryption": {"customerManagedKeyEncryption": key}})).status is Status.COMPLIANT
    for props in ({}, {"encryption": {}}, {"encryption": {"customerManagedKeyEncryption": {}}},
                  {"encryption": {"customerManagedKeyEncryption": {"keyEncryptionKeyUrl": " "}}}):
        v = ev("amr-cmk", snap(props))
        assert v.status is Status.NON_COMPLIANT and isinstance(v.remediation, ManualFix), props


# ---------------------------------------------------------------------------------------------- data-residency


def test_residency_of_clusters_and_their_geo_replicas():
    partner = cluster_id("amr-eu", "rg-eu") + "/databases/default"
    own = cluster_id("amr1") + "/databases/default"
    geo = db(geoReplication={"groupNickname": "g", "linkedDatabases": [{"id": own}, {"id": partner}]})
    assert ev("data-residency", snap(dbs=(db(),))).status is Status.COMPLIANT  # no links, no partner list
    assert ev("data-residency", snap(dbs=None)).status is Status.UNKNOWN
    assert ev("data-residency", snap(dbs=(geo,))).status is Status.UNKNOWN  # partners' locations unread
    assert ev("data-residency", snap(dbs=(geo,), linked_servers=(
        {"id": partner, "name": "amr-eu", "location": "West Europe"},))).status is Status.NON_COMPLIANT
    assert ev("data-residency", snap(dbs=(geo,), linked_servers=(
        {"id": partner, "name": "amr-uk", "location": "ukwest"},))).status is Status.COMPLIANT


# ---------------------------------------------------------------------------------------------- baseline + planner


def test_baseline_gives_clusters_only_the_rules_for_them():
    findings = {f.rule: f for f in load_baseline(None).evaluate(snap(dbs=(db(),)), now=NOW)}
    for rid in ("non-ssl-port", "firewall", "public-network-access", "access-keys", "diagnostic-logs",
                "entra-auth", "no-auth"):
        assert findings[rid].status is Status.NOT_APPLICABLE, rid
    defaults = {"amr-client-protocol": Effect.REMEDIATE, "amr-tls-min-version": Effect.REMEDIATE,
                "amr-diagnostic-logs": Effect.REMEDIATE, "amr-public-network-access": Effect.AUDIT,
                "amr-access-keys": Effect.AUDIT, "amr-cmk": Effect.AUDIT}
    assert {rid: findings[rid].effect for rid in defaults} == defaults


def finding(rule: str, remediation: Any) -> Finding:
    return Finding(rule, Status.NON_COMPLIANT, Effect.REMEDIATE, Severity.HIGH, "x", remediation=remediation)


def test_planner_puts_cluster_fields_on_the_cluster_and_database_fields_on_the_database():
    s = snap({"minimumTlsVersion": "1.0"}, dbs=(db(clientProtocol="Plaintext"),))
    p = plan([finding("amr-client-protocol", DatabaseFix({"default": {"clientProtocol": "Encrypted"}})),
              finding("amr-tls-min-version", PropertyFix({"minimumTlsVersion": "1.2"})),
              finding("amr-diagnostic-logs",
                      CreateDiagnosticSetting("warden-logs", WORKSPACE, ("ConnectionEvents",)))], s)
    cluster_patch, db_patch, put = p.steps
    assert type(cluster_patch) is PatchCache and cluster_patch.body == {"properties": {"minimumTlsVersion": "1.2"}}
    assert isinstance(db_patch, PatchDatabase) and db_patch.database == "default"
    assert db_patch.body == {"properties": {"clientProtocol": "Encrypted"}}
    assert db_patch.before == {"clientProtocol": "Plaintext"} and db_patch.rules == ("amr-client-protocol",)
    assert isinstance(put, PutDiagnosticSetting)


def test_planner_merges_database_fields_and_skips_what_is_already_set():
    s = snap(dbs=(db(clientProtocol="Plaintext", accessKeysAuthentication="Disabled"),))
    p = plan([finding("amr-client-protocol", DatabaseFix({"default": {"clientProtocol": "Encrypted"}})),
              finding("amr-access-keys", DatabaseFix({"default": {"accessKeysAuthentication": "Disabled"}}))], s)
    assert [type(x) for x in p.steps] == [PatchDatabase]
    assert p.steps[0].body == {"properties": {"clientProtocol": "Encrypted"}}
    assert any("already has the wanted value" in n for n in p.notes)


def test_planner_never_widens_a_database_and_never_guesses_one():
    s = snap(dbs=(db(clientProtocol="Encrypted", accessKeysAuthentication="Disabled"),))
    widening = [finding("r1", DatabaseFix({"default": {"clientProtocol": "Plaintext"}})),
                finding("r2", DatabaseFix({"default": {"accessKeysAuthentication": "Enabled"}})),
                finding("r3", DatabaseFix({"other": {"clientProtocol": "Encrypted"}}))]
    p = plan(widening, s)
    assert not p.writes and all(isinstance(x, ManualAction) for x in p.steps)
    assert {x.rule for x in p.steps} == {"r1", "r2", "r3"}
    with pytest.raises(UnsafePlan, match="clientProtocol"):
        check_plan_safety(s, type(p)((PatchDatabase({"properties": {"clientProtocol": "Plaintext"}}, ("r",), {}, {}),)))
    with pytest.raises(UnsafePlan, match="publicNetworkAccess"):
        check_plan_safety(s, type(p)((PatchCache({"properties": {"publicNetworkAccess": "Enabled"}}, ("r",), {}, {}),)))


def test_conflicting_database_values_become_manual():
    s = snap(dbs=(db(clientProtocol="Plaintext"),))
    p = plan([finding("a", DatabaseFix({"default": {"clientProtocol": "Encrypted"}})),
              finding("b", DatabaseFix({"Default": {"clientProtocol": "Plaintext"}}))], s)
    assert not p.writes and {x.rule for x in p.steps} == {"a", "b"}


def test_a_database_being_updated_makes_the_cluster_not_ready():
    assert snap(dbs=(db(),)).provisioning_state == "Succeeded"
    busy = CacheSnapshot(cache_id=CLUSTER, resource={"properties": {"provisioningState": "Succeeded"}},
                         databases=({"name": "default", "properties": {"provisioningState": "Updating"}},))
    assert busy.provisioning_state == "Updating"
