"""The pack's CSV files: what a spreadsheet opens, one value per cell, never JSON in a cell.

`findings.csv`: one row per cache and finding (open or exempt) as at the pack's date; `caches.csv`: one row
per cache with its assessment state. UK dates beside ISO UTC; cells a spreadsheet would run as a formula
are prefixed with a quote (the same guard as `audit export`).
"""

from __future__ import annotations

import csv
from typing import TextIO

from ..audit.export import safe_cell
from ..audit.londontime import london
from ..audit.report import SEVERITY_ORDER
from .assessment import Assessment

FINDING_COLUMNS = (
    "cache_name", "resource_group", "subscription", "region", "rule", "rule_title", "severity", "state",
    "frameworks", "first_seen_uk", "first_seen_london_time", "first_seen_utc", "last_updated_uk",
    "last_updated_utc", "exemption_id", "exemption_expires_uk", "cache_id",
)
CACHE_COLUMNS = (
    "cache_name", "resource_group", "subscription", "region", "assessment", *(f"open_{s}" for s in SEVERITY_ORDER),
    "last_assessed_london", "last_remediation_london", "cache_id",
)


def _uk(iso: str) -> tuple[str, str]:
    try:
        day, clock, zone = london(iso)
    except ValueError:
        return "", ""
    return day, f"{clock} {zone}"


def write_findings(assessment: Assessment, out: TextIO) -> None:
    writer = csv.DictWriter(out, fieldnames=FINDING_COLUMNS, lineterminator="\r\n")
    writer.writeheader()
    for f in assessment.findings:
        first_day, first_time = _uk(f.since_utc)
        last_day, _ = _uk(f.updated_utc)
        row = {
            "cache_name": f.cache.name, "resource_group": f.cache.resource_group,
            "subscription": f.cache.subscription, "region": f.cache.region, "rule": f.rule, "rule_title": f.title,
            "severity": f.severity, "state": f.state, "frameworks": "; ".join(f.frameworks),
            "first_seen_uk": first_day, "first_seen_london_time": first_time, "first_seen_utc": f.since_utc,
            "last_updated_uk": last_day, "last_updated_utc": f.updated_utc, "exemption_id": f.exemption,
            "exemption_expires_uk": f.expires_uk, "cache_id": f.cache.cache_id,
        }
        writer.writerow({k: safe_cell(str(v)) for k, v in row.items()})


def write_caches(assessment: Assessment, out: TextIO) -> None:
    writer = csv.DictWriter(out, fieldnames=CACHE_COLUMNS, lineterminator="\r\n")
    writer.writeheader()
    for c in assessment.caches:
        row = {
            "cache_name": c.name, "resource_group": c.resource_group, "subscription": c.subscription,
            "region": c.region, "assessment": c.assessment,
            # a cache not assessed has no counts: blank, not a reassuring 0
            **{f"open_{s}": c.open.get(s, 0) if c.assessment == "assessed" else "" for s in SEVERITY_ORDER},
            "last_assessed_london": c.last_assessed, "last_remediation_london": c.last_remediation,
            "cache_id": c.cache_id,
        }
        writer.writerow({k: safe_cell(str(v)) for k, v in row.items()})
