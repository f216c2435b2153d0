"""`report`: current posture per cache, derived from the trail alone.

For each cache and rule the latest state-bearing record decides: `detected` (unless its finding_status
says compliant, not_applicable or exempt) and every record that shows the fix has not happened yet
(`remediation-started` without an outcome, `remediation-failed`, `blocked`, `deferred`, `skipped-dry-run`,
`manual-action-required`) leave the finding open; `remediated` or a compliant `detected` closes it;
`skipped-exempt` moves it to the cache's exemptions with their expiry. A `gone` record without a rule
means the cache was deleted.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TextIO

from .canonical import format_utc, parse_utc
from .export import maybe_london
from .londontime import london
from .reader import TrailSource, load_records
from .retirement import retirement
from .schema import SEVERITIES

SEVERITY_ORDER = ("critical", "high", "medium", "low")
OPEN_KINDS = frozenset(
    {"remediation-started", "remediation-pending", "remediation-failed", "blocked", "deferred", "skipped-dry-run",
     "manual-action-required"}
)
CLOSED_STATUSES = frozenset({"compliant", "not_applicable", "exempt"})


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

    def open_by_severity(self) -> dict[str, int]:
        counts = dict.fromkeys(SEVERITY_ORDER, 0)
        for f in self.findings.values():
            key = f.severity if f.severity in SEVERITIES else "unknown"
            counts[key] = counts.get(key, 0) + 1
        return counts


def posture(records: Iterable[Mapping[str, Any]]) -> list[CachePosture]:
    caches: dict[str, CachePosture] = {}
    severities: dict[tuple[str, str], str] = {}
    for r in sorted(records, key=lambda x: str(x.get("time", ""))):
        cid = r.get("cache_id")
        if not isinstance(cid, str) or not cid:
            continue
        key = cid.lower()
        cache = caches.setdefault(key, CachePosture(cid))
        kind, rule, when = r.get("kind"), r.get("rule"), str(r.get("time"))
        if isinstance(r.get("sku"), str):
            cache.sku = r["sku"]
        if isinstance(r.get("severity"), str) and isinstance(rule, str):
            severities[(key, rule)] = r["severity"]
        if kind == "gone" and not rule:
            cache.gone, cache.findings = True, {}
            continue
        if kind != "gone":
            cache.gone = False  # a cache re-created under the same id is reviewed afresh
        if kind == "remediated":
            cache.last_remediation = when
        if not isinstance(rule, str):
            continue
        open_now = (kind == "detected" and r.get("finding_status") not in CLOSED_STATUSES) or kind in OPEN_KINDS
        if open_now:
            previous = cache.findings.get(rule)
            cache.findings[rule] = _Finding(rule, severities.get((key, rule)), str(kind),
                                            previous.since if previous else when, when)
        elif kind in ("remediated", "detected", "skipped-exempt", "gone"):
            cache.findings.pop(rule, None)
        if kind == "skipped-exempt" and isinstance(r.get("exemption"), Mapping):
            ex = r["exemption"]
            cache.exemptions[str(ex.get("id"))] = {"id": ex.get("id"), "rule": rule, "approver": ex.get("approver"),
                                                   "expires": ex.get("expires"), "last_applied": when}
    return [caches[k] for k in sorted(caches)]


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
            "gone": c.gone,
            "open": c.open_by_severity(),
            "open_findings": [
                {"rule": f.rule, "severity": f.severity, "state": f.state, "since": f.since,
                 "since_london": maybe_london(f.since), "updated": f.updated}
                for f in sorted(c.findings.values(), key=lambda f: (_rank(f.severity), f.rule))
            ],
            "exemptions": [
                {**ex, "expires_london": maybe_london(ex["expires"]), "expired": _expired(ex["expires"], now)}
                for ex in sorted(c.exemptions.values(), key=lambda e: str(e["expires"]))
            ],
            "last_remediation": c.last_remediation,
            "last_remediation_london": maybe_london(c.last_remediation) if c.last_remediation else None,
            "retirement": _retirement(c),
        })
    return {"generated": format_utc(now), "generated_london": maybe_london(format_utc(now)), "caches": out}


def _rank(severity: str | None) -> int:
    return SEVERITY_ORDER.index(severity) if severity in SEVERITY_ORDER else len(SEVERITY_ORDER)


CSV_COLUMNS = ("cache_id", "gone", *(f"open_{s}" for s in SEVERITY_ORDER), "open_unknown", "open_rules", "exemptions",
               "next_exemption_expiry_uk", "last_remediation_utc", "last_remediation_london", "retires_uk",
               "move_to")


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
        writer.writerow({
            "cache_id": c.cache_id,
            "gone": "yes" if c.gone else "no",
            **{f"open_{s}": counts[s] for s in SEVERITY_ORDER},
            "open_unknown": counts.get("unknown", 0),
            "open_rules": " ".join(sorted(c.findings)),
            "exemptions": "; ".join(
                f"{e['id']} ({e['rule']}) {'expired' if _expired(e['expires'], now) else 'until'} "
                f"{maybe_london(e['expires'])}" for e in exemptions
            ),
            "next_exemption_expiry_uk": london(str(live[0]["expires"]))[0] if live else "",
            "last_remediation_utc": c.last_remediation or "",
            "last_remediation_london": maybe_london(c.last_remediation) if c.last_remediation else "",
            **_retirement_cells(c),
        })


def _retirement(c: CachePosture) -> dict[str, Any] | None:
    """Azure Cache for Redis (and Enterprise SKUs): the retirement date and the Azure Managed Redis settings
    the replacement should have."""
    found = retirement(c.cache_id, c.sku)
    return found.as_dict() if found else None


def _retirement_cells(c: CachePosture) -> dict[str, str]:
    found = _retirement(c)
    if found is None:
        return {"retires_uk": "", "move_to": ""}
    return {"retires_uk": found["retires_uk"], "move_to": json.dumps(found["move_to"], ensure_ascii=False)}


def run_report(source: TrailSource, fmt: str, out: TextIO, now: datetime | None = None) -> int:
    write_report(posture(load_records(source)), fmt, out, now or datetime.now(UTC))
    return 0
