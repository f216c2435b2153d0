"""`report` marks every Azure Cache for Redis cache with its retirement date and the Azure Managed Redis
settings to move to; Azure Managed Redis clusters are not marked, Enterprise SKUs are (31/03/2027)."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime

from emulator.testing import cache_id
from remediators.audit.report import as_json, posture, write_report
from remediators.audit.retirement import retirement
from tests.amr_fleet import cluster_id

NOW = datetime(2026, 12, 1, tzinfo=UTC)
ACR, AMR = cache_id("orders-cache"), cluster_id("amr1")


def records() -> list[dict[str, object]]:
    return [
        {"time": "2026-11-30T10:00:00Z", "kind": "detected", "cache_id": ACR, "rule": "non-ssl-port",
         "severity": "high", "finding_status": "non_compliant"},
        {"time": "2026-11-30T10:00:01Z", "kind": "detected", "cache_id": AMR, "rule": "amr-cmk",
         "severity": "low", "finding_status": "non_compliant"},
    ]


def test_json_report_marks_azure_cache_for_redis_only():
    caches = {c["cache_id"]: c for c in as_json(posture(records()), NOW)["caches"]}
    marked = caches[ACR]["retirement"]
    assert marked["retires"] == "2028-09-30" and marked["retires_uk"] == "30/09/2028"
    assert marked["move_to"]["type"] == "Microsoft.Cache/redisEnterprise"
    assert marked["move_to"]["database default"]["clientProtocol"] == "Encrypted"
    assert caches[AMR]["retirement"] is None  # an Azure Managed Redis SKU does not retire


def test_csv_report_has_the_date_and_target():
    out = io.StringIO()
    write_report(posture(records()), "csv", out, NOW)
    rows = {r["cache_id"]: r for r in csv.DictReader(io.StringIO(out.getvalue()))}
    assert rows[ACR]["retires_uk"] == "30/09/2028" and "redisEnterprise" in rows[ACR]["move_to"]
    assert rows[AMR]["retires_uk"] == "" and rows[AMR]["move_to"] == ""


def test_enterprise_and_flash_skus_retire_earlier():
    assert retirement(AMR, "Enterprise_E10").retires.isoformat() == "2027-03-31"
    assert retirement(AMR, "EnterpriseFlash_F300").retires.isoformat() == "2027-03-31"
    assert retirement(AMR, "Balanced_B5") is None and retirement(AMR) is None
    with_sku = [*records(), {"time": "2026-11-30T10:00:02Z", "kind": "detected", "cache_id": AMR,
                             "rule": "amr-cmk", "sku": "Enterprise_E10", "finding_status": "non_compliant"}]
    caches = {c["cache_id"]: c for c in as_json(posture(with_sku), NOW)["caches"]}
    assert caches[AMR]["retirement"]["retires_uk"] == "31/03/2027"
