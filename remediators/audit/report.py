"""`report`: current posture per cache, derived from the trail alone.

For each cache and rule the latest state-bearing record decides: `detected` (unless its finding_status
says compliant, not_applicable or exempt) and every record that shows the fix has not happened yet
(`remediation-started` without an outcome, `remediation-failed`, `blocked`, `deferred`, `skipped-dry-run`,
`manual-action-required`) leave the finding open; `remediated` or a compliant `detected` closes it;
`skipped-exempt` moves it to the cache's exemptions with their expiry. An `evaluated` record (one per
evaluation) closes every rule it lists as compliant or not applicable and marks the cache assessed; a cache
with no `evaluated` or `detected` record (only `deferred`, `not-evaluated`, ...) is "not assessed", never
counted as clean. A `gone` record without a rule means the cache was deleted.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TextIO

from .canonical import format_utc, parse_utc
from .export import maybe_london, safe_cell
from .londontime import expiry_day, expiry_text
from .reader import TrailSource, load_records
from .retirement import retirement
from .schema import CACHE_KINDS, SEVERITIES

SEVERITY_ORDER = ("critical", "high", "medium", "low")
OPEN_KINDS = frozenset(
    {"remediation-started", "remediation-pending", "remediation-failed", "blocked", "deferred", "skipped-dry-run",
     "manual-action-required"}
)
CLOSED_STATUSES = frozenset({"compliant", "not_applicable", "exempt"})
AZURE_POLICY_RULE = "azure-policy"  # remediators/rules/azure_policy.py; its `before` is the policy states


@dataclass
class _Finding:
    rule: str
    severity: str | None
    state: str  # the kind of the record that decided it
    since: str  # when it was first seen open in this episode
    updated: str


@dataclass
class CachePosture:
    cache_id: str
    findings: dict[str, _Finding] = field(default_factory=dict)
    exemptions: dict[str, dict[str, Any]] = field(default_factory=dict)
    last_remediation: str | None = None
    gone: bool = False
    sku: str | None = None  # from a record's `sku` field when the trail carries one (redisEnterprise SKUs)
    assessed: bool = False  # an `evaluated` or `detected` record exists: the baseline was applied to it
    last_assessed: str | None = None
    location: str | None = None  # the region, from `evaluated` records
    # Azure Policy's verdicts as the last azure-policy record carried them (None: none recorded)
    azure_policy: list[dict[str, Any]] | None = None

    @property
    def assessment(self) -> str:
        """`deleted`, `assessed` or `not assessed` (deferred every time, or a kind with no rules yet)."""
        if self.gone:
            return "deleted"
        return "assessed" if self.assessed else "not assessed"

    def open_by_severity(self) -> dict[str, int]:
        counts = dict.fromkeys(SEVERITY_ORDER, 0)
        for f in self.findings.values():
            key = f.severity if f.severity in SEVERITIES else "unknown"
            counts[key] = counts.get(key, 0) + 1
        return counts


class PostureBuilder:
    """The posture, fed one record at a time in time order, so the monthly pack can take a snapshot at the
    end of every day without replaying the trail each time."""

    def __init__(self) -> None:
        self.caches: dict[str, CachePosture] = {}
        self._severities: dict[tuple[str, str], str] = {}

    def add(self, r: Mapping[str, Any]) -> None:
        cid, kind = r.get("cache_id"), r.get("kind")
        if not isinstance(cid, str) or not cid or kind not in CACHE_KINDS:
            return  # ignored events and alerts about a cache say nothing about its posture
        key = cid.lower()
        cache = self.caches.setdefault(key, CachePosture(cid))
        rule, when = r.get("rule"), str(r.get("time"))
        if isinstance(r.get("sku"), str):
            cache.sku = r["sku"]
        if isinstance(r.get("location"), str):
            cache.location = r["location"]
        if kind in ("evaluated", "detected"):
            cache.assessed, cache.last_assessed = True, when
        if kind == "evaluated" and isinstance(r.get("statuses"), Mapping):
            for closed, status in r["statuses"].items():
                if status in ("compliant", "not_applicable"):
                    cache.findings.pop(str(closed), None)
        if isinstance(r.get("severity"), str) and isinstance(rule, str):
            self._severities[(key, rule)] = r["severity"]
        if kind == "gone" and not rule:
            cache.gone, cache.findings, cache.assessed = True, {}, False
            return
        if kind != "gone":
            cache.gone = False  # a cache re-created under the same id is reviewed afresh
        if kind == "remediated":
            cache.last_remediation = when
        if not isinstance(rule, str):
            return
        if rule == AZURE_POLICY_RULE and kind == "detected" and isinstance(r.get("before"), list):
            cache.azure_policy = [dict(s) for s in r["before"] if isinstance(s, Mapping)]
        open_now = (kind == "detected" and r.get("finding_status") not in CLOSED_STATUSES) or kind in OPEN_KINDS
        if open_now:
            previous = cache.findings.get(rule)
            cache.findings[rule] = _Finding(rule, self._severities.get((key, rule)), str(kind),
                                            previous.since if previous else when, when)
        elif kind in ("remediated", "detected", "skipped-exempt", "gone"):
            cache.findings.pop(rule, None)
        if kind == "skipped-exempt" and isinstance(r.get("exemption"), Mapping):
            ex = r["exemption"]
            cache.exemptions[str(ex.get("id"))] = {"id": ex.get("id"), "rule": rule, "approver": ex.get("approver"),
                                                   "expires": ex.get("expires"), "last_applied": when}

    def result(self) -> list[CachePosture]:
        return [self.caches[k] for k in sorted(self.caches)]


def posture(records: Iterable[Mapping[str, Any]]) -> list[CachePosture]:
    builder = PostureBuilder()
    for r in sorted(records, key=lambda x: str(x.get("time", ""))):
        builder.add(r)
    return builder.result()


def policy_compliance(records: Iterable[Mapping[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """Per cache id, Azure Policy's latest recorded verdicts ({assignment, definition, state}), for the
    report and the monthly pack to show beside the warden's own findings. Only caches with a recorded
    azure-policy finding appear (one is recorded when an assignment reports it non-compliant)."""
    return {c.cache_id: c.azure_policy for c in posture(records) if c.azure_policy is not None}


def _expired(expires: Any, now: datetime) -> bool | None:
    try:
        return parse_utc(str(expires)) <= now
    except ValueError:
        return None


def as_json(caches: list[CachePosture], now: datetime) -> dict[str, Any]:
    out = []
    for c in caches:
        out.append({
            "cache_id": c.cache_id,
            **cache_names(c.cache_id),
            "region": c.location,
            "gone": c.gone,
            "assessment": c.assessment,
            "last_assessed": c.last_assessed,
            "open": c.open_by_severity() if c.assessed else None,
            "open_findings": [
                {"rule": f.rule, "severity": f.severity, "state": f.state, "since": f.since,
                 "since_london": maybe_london(f.since), "updated": f.updated}
                for f in sorted(c.findings.values(), key=lambda f: (_rank(f.severity), f.rule))
            ],
            "exemptions": [
                {**ex, "expires_london": _expiry_text(ex["expires"]), "expires_uk": _expiry_day(ex["expires"]),
                 "expired": _expired(ex["expires"], now)}
                for ex in sorted(c.exemptions.values(), key=lambda e: str(e["expires"]))
            ],
            "last_remediation": c.last_remediation,
            "last_remediation_london": maybe_london(c.last_remediation) if c.last_remediation else None,
            "retirement": _retirement(c),
            "azure_policy": c.azure_policy,
        })
    return {"generated": format_utc(now), "generated_london": maybe_london(format_utc(now)), "caches": out}


def _rank(severity: str | None) -> int:
    return SEVERITY_ORDER.index(severity) if severity in SEVERITY_ORDER else len(SEVERITY_ORDER)


CSV_COLUMNS = ("cache_name", "resource_group", "subscription", "region", "assessment", "cache_id", "gone",
               *(f"open_{s}" for s in SEVERITY_ORDER), "open_unknown", "open_rules", "exemptions",
               "next_exemption_expiry_uk", "last_assessed_utc", "last_remediation_utc", "last_remediation_london",
               "retires_uk", "move_to")


def cache_names(cache_id: str) -> dict[str, str]:
    """Name, resource group and subscription from an ARM id, tolerantly (a record is never rejected for
    display): `/subscriptions/<s>/resourceGroups/<rg>/providers/Microsoft.Cache/<type>/<name>`."""
    parts = cache_id.split("/")
    sub = parts[2] if len(parts) > 2 and parts[1].lower() == "subscriptions" else ""
    rg = parts[4] if len(parts) > 4 and parts[3].lower() == "resourcegroups" else ""
    return {"cache_name": parts[-1] if parts else cache_id, "resource_group": rg, "subscription": sub}


def _expiry_text(value: Any) -> str:
    try:
        return expiry_text(str(value))
    except ValueError:
        return str(value)


def _expiry_day(value: Any) -> str:
    try:
        return expiry_day(str(value))
    except ValueError:
        return str(value)


def write_report(caches: list[CachePosture], fmt: str, out: TextIO, now: datetime) -> None:
    if fmt == "json":
        json.dump(as_json(caches, now), out, indent=2, ensure_ascii=False)
        out.write("\n")
        return
    if fmt != "csv":
        raise ValueError(f"unknown report format {fmt!r} (csv or json)")
    writer = csv.DictWriter(out, fieldnames=CSV_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for c in caches:
        counts = c.open_by_severity()
        exemptions = sorted(c.exemptions.values(), key=lambda e: str(e["expires"]))
        live = [e for e in exemptions if _expired(e["expires"], now) is False]
        row = {
            **cache_names(c.cache_id),
            "region": c.location or "",
            "assessment": c.assessment,
            "cache_id": c.cache_id,
            "gone": "yes" if c.gone else "no",
            # a cache never assessed has no counts: blank, not a reassuring 0
            **{f"open_{s}": counts[s] if c.assessed else "" for s in SEVERITY_ORDER},
            "open_unknown": counts.get("unknown", 0) if c.assessed else "",
            "open_rules": " ".join(sorted(c.findings)),
            "exemptions": "; ".join(
                f"{e['id']} ({e['rule']}) {'expired' if _expired(e['expires'], now) else 'until'} "
                f"{_expiry_text(e['expires'])}" for e in exemptions
            ),
            "next_exemption_expiry_uk": _expiry_day(live[0]["expires"]) if live else "",
            "last_assessed_utc": c.last_assessed or "",
            "last_remediation_utc": c.last_remediation or "",
            "last_remediation_london": maybe_london(c.last_remediation) if c.last_remediation else "",
            **_retirement_cells(c),
        }
        writer.writerow({k: safe_cell(str(v)) for k, v in row.items()})


def _retirement(c: CachePosture) -> dict[str, Any] | None:
    """Azure Cache for Redis (and Enterprise SKUs): the retirement date and the Azure Managed Redis settings
    the replacement should have."""
    found = retirement(c.cache_id, c.sku)
    return found.as_dict() if found else None


def _retirement_cells(c: CachePosture) -> dict[str, str]:
    found = _retirement(c)
    if found is None:
        return {"retires_uk": "", "move_to": ""}
    # One short cell; the target settings are in the JSON report and the pack, never a JSON blob per row.
    return {"retires_uk": found["retires_uk"],
            "move_to": "Azure Managed Redis (Microsoft.Cache/redisEnterprise); target settings: report --format json"}


def run_report(source: TrailSource, fmt: str, out: TextIO, now: datetime | None = None) -> int:
    write_report(posture(load_records(source)), fmt, out, now or datetime.now(UTC))
    return 0
