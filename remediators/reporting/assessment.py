"""What the monthly pack says, computed from the trail alone: pure, no I/O, no HTML.

One pass over the records in time order feeds `PostureBuilder` (the same posture `report` gives) and
watches each (cache, rule) finding change state, so the pack can say, for the month:
- open findings by severity at the end of every London day;
- drift events: a finding that becomes open on a cache where it was not open just before (a nightly scan
  seeing the same unfixed finding again is not a new drift), by rule and by who caused it;
- time to remediate: from a finding opening to the `remediated` record that closes it;
- exemptions applied and their expiry, caches not assessed, product retirement dates.
Every value from the trail is untrusted text: it is carried as data here and escaped by the templates.
"""

from __future__ import annotations

import contextlib
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from ..audit.canonical import parse_utc
from ..audit.londontime import LONDON, expiry_day, expiry_text, london_day_start, london_text
from ..audit.report import SEVERITY_ORDER, CachePosture, PostureBuilder, cache_names
from ..audit.retirement import retirement
from .period import Period


@dataclass(frozen=True)
class RuleInfo:
    """What the pack shows about a rule besides its id (from the rule registry's metadata)."""

    title: str
    frameworks: tuple[str, ...] = ()


@dataclass(frozen=True)
class VerifySummary:
    ok: bool
    text: str  # the one-line result, as `audit verify` prints it
    problems: tuple[str, ...]
    warnings: tuple[str, ...]
    pinned: tuple[str, ...]  # fingerprints passed in (pinned outside the audit storage)
    signed_by: tuple[str, ...]  # key fingerprints the stored checkpoints claim


@dataclass(frozen=True)
class DayCount:
    day: date
    open: Mapping[str, int]  # severity -> open findings at the end of the day
    not_assessed: int


@dataclass(frozen=True)
class CacheRow:
    cache_id: str
    name: str
    resource_group: str
    subscription: str
    region: str
    assessment: str  # assessed / not assessed / deleted
    open: Mapping[str, int]
    last_assessed: str  # London text or ""
    last_remediation: str


@dataclass(frozen=True)
class FindingRow:
    cache: CacheRow
    rule: str
    title: str
    severity: str
    state: str  # open (and the kind that keeps it open) or exempt
    since_utc: str
    updated_utc: str
    frameworks: tuple[str, ...]
    exemption: str = ""
    expires_uk: str = ""


@dataclass(frozen=True)
class ExemptionRow:
    cache: CacheRow
    id: str
    rule: str
    approver: str
    expires_utc: str
    expires_text: str
    expires_uk: str
    days_left: int | None  # None when the expiry cannot be read
    expired: bool


@dataclass(frozen=True)
class RetirementRow:
    cache: CacheRow
    product: str
    retires_uk: str
    days_left: int


@dataclass(frozen=True)
class Remediation:
    rule: str
    minutes: float


@dataclass(frozen=True)
class Assessment:
    period: Period
    generated: datetime
    verify: VerifySummary
    baselines: tuple[str, ...]  # version hashes in force during the month, latest first
    baseline_changes: int
    days: tuple[DayCount, ...]
    drift_by_rule: tuple[tuple[str, int], ...]
    drift_by_actor: tuple[tuple[str, int], ...]
    remediations: tuple[Remediation, ...]
    caches: tuple[CacheRow, ...]
    findings: tuple[FindingRow, ...]
    exemptions: tuple[ExemptionRow, ...]
    retirements: tuple[RetirementRow, ...]
    records_in_month: int

    @property
    def not_assessed(self) -> tuple[CacheRow, ...]:
        return tuple(c for c in self.caches if c.assessment == "not assessed")

    @property
    def open_now(self) -> dict[str, int]:
        return dict(self.days[-1].open) if self.days else dict.fromkeys(SEVERITY_ORDER, 0)

    def mttr_by_rule(self) -> list[tuple[str, float, int]]:
        by: dict[str, list[float]] = {}
        for r in self.remediations:
            by.setdefault(r.rule, []).append(r.minutes)
        return sorted(((rule, sum(v) / len(v), len(v)) for rule, v in by.items()), key=lambda x: (-x[1], x[0]))

    @property
    def mttr_minutes(self) -> float | None:
        return sum(r.minutes for r in self.remediations) / len(self.remediations) if self.remediations else None


def _actor_label(record: Mapping[str, Any]) -> str:
    actor = record.get("drift_actor")
    if isinstance(actor, Mapping) and (actor.get("oid") or actor.get("appid")):
        kind = f" ({actor['principal_type']})" if actor.get("principal_type") else ""
        if actor.get("upn"):
            return f"{actor['upn']}{kind}"
        return f"oid {actor.get('oid') or '-'}{kind}" if actor.get("oid") else f"app {actor.get('appid')}{kind}"
    trigger = record.get("trigger") if isinstance(record.get("trigger"), Mapping) else {}
    if trigger.get("scan_id"):
        return "found by a scan (who made the change is not known)"
    return "not attributable (see the Activity Log by correlation id)"


def _open(cache: CachePosture | None, rule: str) -> bool:
    return cache is not None and rule in cache.findings


def _row(c: CachePosture) -> CacheRow:
    names = cache_names(c.cache_id)
    return CacheRow(
        cache_id=c.cache_id, name=names["cache_name"], resource_group=names["resource_group"],
        subscription=names["subscription"], region=c.location or "", assessment=c.assessment,
        open=c.open_by_severity() if c.assessed else {},
        last_assessed=_london(c.last_assessed), last_remediation=_london(c.last_remediation),
    )


def _london(value: str | None) -> str:
    if not value:
        return ""
    try:
        return london_text(value)
    except ValueError:
        return value


def _days_between(later: datetime, earlier: datetime) -> int:
    return (later.astimezone(LONDON).date() - earlier.astimezone(LONDON).date()).days


def assess(
    records: Iterable[Mapping[str, Any]], period: Period, verify: VerifySummary, rules: Mapping[str, RuleInfo],
    generated: datetime,
) -> Assessment:
    builder = PostureBuilder()
    days = period.days()
    day_ends = [london_day_start(d) for d in days[1:]] + [period.as_at]
    snapshots: list[DayCount] = []
    drift_rule: Counter[str] = Counter()
    drift_actor: Counter[str] = Counter()
    remediations: list[Remediation] = []
    baselines: list[str] = []
    changes = in_month = 0

    def snapshot(day: date) -> None:
        counts = dict.fromkeys(SEVERITY_ORDER, 0)
        waiting = 0
        for c in builder.caches.values():
            if c.assessment == "not assessed":
                waiting += 1
            for sev, n in c.open_by_severity().items():
                counts[sev] = counts.get(sev, 0) + n
        snapshots.append(DayCount(day, counts, waiting))

    ordered = sorted(records, key=lambda x: str(x.get("time", "")))
    i = 0
    for r in ordered:
        try:
            when = parse_utc(str(r.get("time")))
        except ValueError:
            continue  # unreadable time: `audit verify` names it; the pack cannot place it
        if when >= period.as_at:
            break
        while i < len(days) and when >= day_ends[i]:
            snapshot(days[i])
            i += 1
        in_period = when >= period.start
        rule = r.get("rule")
        key = str(r.get("cache_id") or "").lower()
        before = builder.caches.get(key)
        was_open = isinstance(rule, str) and _open(before, rule)
        since = before.findings[rule].since if was_open and before is not None and isinstance(rule, str) else None
        builder.add(r)
        if not in_period:
            continue
        in_month += 1
        if isinstance(r.get("baseline"), str) and r["baseline"] not in baselines:
            baselines.append(r["baseline"])
        if r.get("kind") == "baseline-changed":
            changes += 1
        if not isinstance(rule, str):
            continue
        now_open = _open(builder.caches.get(key), rule)
        if r.get("kind") == "detected" and now_open and not was_open:
            drift_rule[rule] += 1
            drift_actor[_actor_label(r)] += 1
        if r.get("kind") == "remediated" and was_open and not now_open and since:
            # an unreadable `since` time gives no duration; the record still closed the finding
            with contextlib.suppress(ValueError):
                remediations.append(Remediation(rule, (when - parse_utc(since)).total_seconds() / 60))
    while i < len(days):
        snapshot(days[i])
        i += 1

    caches = builder.result()
    rows = {c.cache_id.lower(): _row(c) for c in caches}
    findings: list[FindingRow] = []
    exemptions: list[ExemptionRow] = []
    retirements: list[RetirementRow] = []
    for c in caches:
        row = rows[c.cache_id.lower()]
        for f in sorted(c.findings.values(), key=lambda f: (_rank(f.severity), f.rule)):
            info = rules.get(f.rule, RuleInfo(f.rule))
            findings.append(FindingRow(row, f.rule, info.title, f.severity or "unknown", f"open ({f.state})",
                                       f.since, f.updated, info.frameworks))
        for ex in sorted(c.exemptions.values(), key=lambda e: str(e.get("expires"))):
            exemptions.append(_exemption(row, ex, period.as_at))
            info = rules.get(str(ex.get("rule")), RuleInfo(str(ex.get("rule"))))
            findings.append(FindingRow(row, str(ex.get("rule")), info.title, "", "exempt",
                                       str(ex.get("last_applied") or ""), str(ex.get("last_applied") or ""),
                                       info.frameworks, exemption=str(ex.get("id")),
                                       expires_uk=exemptions[-1].expires_uk))
        found = retirement(c.cache_id, c.sku)
        if found and not c.gone:
            retirements.append(RetirementRow(row, found.product, found.retires.strftime("%d/%m/%Y"),
                                             (found.retires - period.as_at.astimezone(LONDON).date()).days))
    return Assessment(
        period=period, generated=generated, verify=verify, baselines=tuple(reversed(baselines)),
        baseline_changes=changes, days=tuple(snapshots),
        drift_by_rule=tuple(sorted(drift_rule.items(), key=lambda x: (-x[1], x[0]))),
        drift_by_actor=tuple(sorted(drift_actor.items(), key=lambda x: (-x[1], x[0]))),
        remediations=tuple(remediations), caches=tuple(rows[k] for k in sorted(rows)), findings=tuple(findings),
        exemptions=tuple(sorted(exemptions, key=lambda e: (e.days_left is None, e.days_left or 0))),
        retirements=tuple(sorted(retirements, key=lambda r: (r.days_left, r.cache.name))),
        records_in_month=in_month,
    )


def _rank(severity: str | None) -> int:
    return SEVERITY_ORDER.index(severity) if severity in SEVERITY_ORDER else len(SEVERITY_ORDER)


def _exemption(row: CacheRow, ex: Mapping[str, Any], as_at: datetime) -> ExemptionRow:
    raw = str(ex.get("expires"))
    try:
        moment = parse_utc(raw)
        text, day = expiry_text(moment), expiry_day(moment)
        left: int | None = _days_between(moment, as_at)
        expired = moment <= as_at
    except ValueError:
        text, day, left, expired = raw, raw, None, False
    return ExemptionRow(row, str(ex.get("id")), str(ex.get("rule")), str(ex.get("approver") or ""), raw, text,
                        day, left, expired)


def rule_infos(rules: Sequence[Any]) -> dict[str, RuleInfo]:
    """Titles and framework references from the rule registry's metadata."""
    return {r.metadata.id: RuleInfo(r.metadata.title, tuple(str(f) for f in r.metadata.frameworks))
            for r in rules}
