"""Findings as OCSF Detection Findings (class 2004), so they sit beside Defender's and Prowler's in a SIEM.

Shape from the OCSF schema (ocsf/ocsf-schema: events/findings/finding.json and detection_finding.json,
base_event): `class_uid` 2004 = category 2 (Findings) * 1000 + 4; `type_uid` = class_uid * 100 +
activity_id; `activity_id` 1 Create; `severity_id` 1-5 Informational..Critical (0 Unknown); `status_id`
1 New for an open finding, 3 Suppressed for an exempt one; `finding_info` (required: `uid`, `title`);
`metadata` (required: `product`, `version`); `time` in epoch milliseconds; the affected cache in
`resources` and the cloud profile's `cloud` (provider, region, account). The framework references go in
`unmapped.frameworks` rather than OCSF's compliance profile, whose controls are one standard's ids. Pure.
"""

from __future__ import annotations

from typing import Any

from ..audit.canonical import parse_utc
from .assessment import Assessment, FindingRow

OCSF_VERSION = "1.3.0"
SEVERITY_IDS = {"low": 2, "medium": 3, "high": 4, "critical": 5}
CLASS_UID, CATEGORY_UID, ACTIVITY_CREATE = 2004, 2, 1


def _ms(iso: str) -> int | None:
    try:
        return int(parse_utc(iso).timestamp() * 1000)
    except ValueError:
        return None


def detection_finding(f: FindingRow, product_version: str, generated_ms: int) -> dict[str, Any]:
    exempt = f.state == "exempt"
    first = _ms(f.since_utc)
    finding_info: dict[str, Any] = {
        "uid": f"redis-warden:{f.cache.cache_id.lower()}:{f.rule}",
        "title": f.title,
        "desc": f"{f.title} ({f.rule}) on {f.cache.name}: {f.state}",
        "types": ["Azure Redis configuration drift"],
    }
    if first is not None:
        finding_info["first_seen_time"] = first
    last = _ms(f.updated_utc)
    if last is not None:
        finding_info["last_seen_time"] = last
    item: dict[str, Any] = {
        "class_uid": CLASS_UID,
        "class_name": "Detection Finding",
        "category_uid": CATEGORY_UID,
        "category_name": "Findings",
        "activity_id": ACTIVITY_CREATE,
        "activity_name": "Create",
        "type_uid": CLASS_UID * 100 + ACTIVITY_CREATE,
        "severity_id": SEVERITY_IDS.get(f.severity, 0),
        "severity": f.severity.capitalize() if f.severity in SEVERITY_IDS else "Unknown",
        "status_id": 3 if exempt else 1,
        "status": "Suppressed" if exempt else "New",
        "time": generated_ms,
        "finding_info": finding_info,
        "metadata": {"version": OCSF_VERSION,
                     "product": {"name": "redis-warden", "vendor_name": "redis-warden", "version": product_version}},
        "cloud": {"provider": "Azure", "account": {"uid": f.cache.subscription, "type": "Azure AD Account"}},
        "resources": [{"uid": f.cache.cache_id, "name": f.cache.name, "type": _resource_type(f.cache.cache_id),
                       "group": {"name": f.cache.resource_group}}],
        "unmapped": {"rule": f.rule, "state": f.state, "frameworks": list(f.frameworks)},
    }
    if f.cache.region:
        item["cloud"]["region"] = f.cache.region
        item["resources"][0]["region"] = f.cache.region
    if exempt:
        item["unmapped"]["exemption"] = {"id": f.exemption, "expires_uk": f.expires_uk}
    return item


def _resource_type(cache_id: str) -> str:
    lowered = cache_id.lower()
    if "/microsoft.cache/redisenterprise/" in lowered:
        return "Microsoft.Cache/redisEnterprise"
    return "Microsoft.Cache/redis"


def findings_document(assessment: Assessment, product_version: str) -> list[dict[str, Any]]:
    generated_ms = int(assessment.generated.timestamp() * 1000)
    return [detection_finding(f, product_version, generated_ms) for f in assessment.findings]
