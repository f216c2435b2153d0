"""A November 2026 trail with a bit of everything the pack shows, and hostile text in the places a third party
can reach: a cache name, an actor, an approver, an exemption id."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from remediators.audit import open_trail
from remediators.audit.signing import PemSigner, fingerprint
from tests.audit.conftest import write_key

SUB = "00000000-0000-0000-0000-000000000001"
HOSTILE_NAME = "<img src=x onerror=alert(1)>"
HOSTILE_OID = "<script>alert('oid')</script>"
HOSTILE_APPROVER = "<script>document.title='pwned'</script>"


def cache_id(rg: str, name: str, kind: str = "redis") -> str:
    return f"/subscriptions/{SUB}/resourceGroups/{rg}/providers/Microsoft.Cache/{kind}/{name}"


ORDERS = cache_id("rg-payments", "orders-cache")
SESSIONS = cache_id("rg-web", "sessions")
HOSTILE = cache_id("rg-payments", HOSTILE_NAME)
CLUSTER = cache_id("rg-amr", "amr-1", "redisEnterprise")
JANE = {"oid": "a1b2c3d4-0000-0000-0000-000000000001", "appid": "04b07795-8ddb-461a-bbee-02f9e1bf7b46"}


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 10, 31, 12, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def at(self, day: int, hour: int, minute: int = 0) -> None:
        self.now = datetime(2026, 11, day, hour, minute, tzinfo=UTC)


@pytest.fixture
def pack_key(tmp_path: Path) -> tuple[Path, str]:
    key = write_key(tmp_path / "checkpoint.pem")
    return key, fingerprint(PemSigner.from_file(key).public_key_der)


@pytest.fixture
def november(tmp_path: Path, pack_key: tuple[Path, str]) -> Path:
    """19 days of nightly evaluations, Jane turning the non-SSL port on every third day (fixed in minutes),
    a critical firewall finding that needs a person, an exemption, a cache only ever deferred (its name is
    hostile), an Enterprise-SKU cluster and a cache type with no rules yet."""
    path = tmp_path / "audit.jsonl"
    clock = Clock()
    t = open_trail(audit_file=str(path), signing_key=str(pack_key[0]), baseline_hash="b" * 64,
                   our_identity={"oid": "warden-oid", "appid": "warden-app"}, clock=clock)
    # October: the firewall finding is already open when November starts
    t.record("detected", cache_id=SESSIONS, rule="firewall", severity="critical", finding_status="non_compliant",
             trigger={"scan_id": "scan-oct"})
    for day in range(1, 20):
        clock.at(day, 2)
        t.record("evaluated", cache_id=ORDERS, statuses={"tls-min-version": "compliant", "non-ssl-port": "compliant"},
                 location="uksouth", sku="Standard")
        t.record("evaluated", cache_id=SESSIONS, statuses={"firewall": "non_compliant"}, location="ukwest")
        if day == 1:
            t.record("manual-action-required", cache_id=SESSIONS, rule="firewall", severity="critical")
        clock.at(day, 3)
        t.record("deferred", cache_id=HOSTILE, detail="cache is Updating")
        if day % 3 == 0:
            clock.at(day, 10)
            actor = {"oid": HOSTILE_OID} if day == 9 else JANE
            t.record("detected", cache_id=ORDERS, rule="non-ssl-port", severity="high", finding_status="non_compliant",
                     drift_actor=actor, trigger={"event_id": f"ev-{day}", "actor": actor})
            t.record("remediation-started", cache_id=ORDERS, rule="non-ssl-port")
            clock.at(day, 10, 10)
            t.record("remediated", cache_id=ORDERS, rule="non-ssl-port")
        if day == 5:
            clock.at(day, 11)
            t.record("skipped-exempt", cache_id=ORDERS, rule="access-keys", severity="medium",
                     exemption={"id": "EX-<b>1</b>", "approver": HOSTILE_APPROVER,
                                "expires": "2027-01-01T00:00:00+00:00"})
            t.record("detected", cache_id=CLUSTER, rule="amr-tls-min-version", severity="high",
                     finding_status="non_compliant", sku="Enterprise_E10")
    clock.at(20, 9)
    t.checkpoint()
    clock.now = datetime(2026, 12, 2, 8, 30, tzinfo=UTC)  # the hourly timer's latest, before the pack is built
    t.checkpoint()
    t.close()
    return path
