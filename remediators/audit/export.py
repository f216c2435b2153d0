"""`audit export` and `audit show`: the records a reviewer asks for, with UK dates and London times beside
ISO UTC. Reading only; nothing here vouches for integrity (that is `audit verify`)."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any, TextIO

from .canonical import parse_utc
from .londontime import expiry_text, london, london_range, london_text
from .reader import TrailSource, load_records

CSV_COLUMNS = (
    "time_utc", "date_uk", "time_london", "zone", "kind", "cache_id", "rule", "severity", "finding_status",
    "effect", "event_id", "event_type", "correlation_id", "actor_oid", "actor_appid", "drift_actor_oid",
    "drift_actor_appid", "drift_actor_principal_type", "drift_actor_unknown",
    "scan_id", "request_id", "outcome_code", "outcome_message", "dry_run_source", "exemption_id",
    "exemption_expires", "detail", "chain", "seq", "hash",
)
# Spreadsheet programs run cells starting with these as formulas; error messages and details can carry
# text a third party chose, so such cells are prefixed with a quote (OWASP CSV injection guidance).
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


@dataclass(frozen=True)
class Filter:
    since: date | None = None
    until: date | None = None
    cache: str | None = None
    rule: str | None = None

    def __post_init__(self) -> None:
        london_range(self.since, self.until)  # refuse an empty range up front, with a message

    def apply(self, records: Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
        start, end = london_range(self.since, self.until)
        cache = self.cache.lower().rstrip("/") if self.cache else None
        out = []
        for r in records:
            try:
                when = parse_utc(str(r.get("time")))
            except ValueError:
                continue
            if (start and when < start) or (end and when >= end):
                continue
            if self.rule and r.get("rule") != self.rule:
                continue
            if cache and not _cache_matches(str(r.get("cache_id") or ""), cache):
                continue
            out.append(r)
        return out


def _cache_matches(cache_id: str, wanted: str) -> bool:
    """A full ARM id matches case-insensitively; a bare name matches the cache's last segment."""
    cid = cache_id.lower().rstrip("/")
    return cid == wanted if "/" in wanted else cid.rsplit("/", 1)[-1] == wanted


def _actor(record: Mapping[str, Any]) -> Mapping[str, Any]:
    trigger = record.get("trigger")
    actor = trigger.get("actor") if isinstance(trigger, Mapping) else None
    return actor if isinstance(actor, Mapping) else {}


def _flat(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return json.dumps(value, sort_keys=True, ensure_ascii=False)


def _drift_actor_cells(actor: Any) -> dict[str, Any]:
    """Who caused the drift, one value per cell (never JSON in a cell): oid, appid, principal type, or
    `yes` under drift_actor_unknown (the correlation id column then finds the write in the Activity Log)."""
    if isinstance(actor, Mapping):
        return {"drift_actor_oid": actor.get("oid"), "drift_actor_appid": actor.get("appid"),
                "drift_actor_principal_type": actor.get("principal_type"),
                "drift_actor_unknown": "yes" if actor.get("unknown") else None}
    unknown = "yes" if actor == "unknown" else None
    return {"drift_actor_oid": None, "drift_actor_appid": None, "drift_actor_principal_type": None,
            "drift_actor_unknown": unknown}


def safe_cell(text: str) -> str:
    return "'" + text if text.startswith(_FORMULA_START) else text


def csv_row(r: Mapping[str, Any]) -> dict[str, str]:
    trigger = r.get("trigger") if isinstance(r.get("trigger"), Mapping) else {}
    outcome = r.get("outcome") if isinstance(r.get("outcome"), Mapping) else {}
    exemption = r.get("exemption") if isinstance(r.get("exemption"), Mapping) else {}
    day, clock, zone = london(str(r["time"]))
    values = {
        "time_utc": r.get("time"), "date_uk": day, "time_london": clock, "zone": zone,
        "kind": r.get("kind"), "cache_id": r.get("cache_id"), "rule": r.get("rule"), "severity": r.get("severity"),
        "finding_status": r.get("finding_status"), "effect": r.get("effect"),
        "event_id": trigger.get("event_id"), "event_type": trigger.get("event_type"),
        "correlation_id": trigger.get("correlation_id"),
        "actor_oid": _actor(r).get("oid"), "actor_appid": _actor(r).get("appid"),
        **_drift_actor_cells(r.get("drift_actor")), "scan_id": r.get("scan_id") or trigger.get("scan_id"),
        "request_id": r.get("request_id"), "outcome_code": outcome.get("code"),
        "outcome_message": outcome.get("message"), "dry_run_source": r.get("dry_run_source"),
        "exemption_id": exemption.get("id"), "exemption_expires": exemption.get("expires"),
        "detail": r.get("detail"), "chain": r.get("chain"), "seq": r.get("seq"), "hash": r.get("hash"),
    }
    return {k: safe_cell(_flat(values[k])) for k in CSV_COLUMNS}


def json_item(r: Mapping[str, Any]) -> dict[str, Any]:
    """The stored record plus a `london` object. `london` is not part of the hashed record: drop it to
    recompute the hash."""
    day, clock, zone = london(str(r["time"]))
    return {**r, "london": {"date": day, "time": clock, "zone": zone}}


def write_export(records: Sequence[Mapping[str, Any]], fmt: str, out: TextIO) -> None:
    if fmt == "json":
        json.dump([json_item(r) for r in records], out, indent=2, ensure_ascii=False, sort_keys=True)
        out.write("\n")
    elif fmt == "csv":
        writer = csv.DictWriter(out, fieldnames=CSV_COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(csv_row(r) for r in records)
    else:
        raise ValueError(f"unknown export format {fmt!r} (csv or json)")


def run_export(source: TrailSource, fmt: str, flt: Filter, out: TextIO) -> int:
    write_export(flt.apply(load_records(source)), fmt, out)
    return 0


def maybe_london(value: Any) -> str:
    """London time for an ISO timestamp; anything else as stored (a record is never rejected for display)."""
    try:
        return london_text(str(value))
    except ValueError:
        return _flat(value)


def _expiry(value: Any) -> str:
    try:
        return expiry_text(str(value))
    except ValueError:
        return _flat(value)


def _short_cache(cache_id: Any) -> str:
    parts = str(cache_id or "").split("/")
    # .../resourceGroups/<rg>/providers/Microsoft.Cache/<type>/<name>: show rg/name
    return f"{parts[4]}/{parts[-1]}" if len(parts) >= 9 else str(cache_id or "")


def _summary(r: Mapping[str, Any]) -> str:
    outcome = r.get("outcome") if isinstance(r.get("outcome"), Mapping) else {}
    bits = [str(outcome.get("code"))] if outcome.get("code") else []
    for key in ("dry_run_source", "finding_status", "detail"):
        if r.get(key):
            bits.append(f"{key}={r[key]}" if key != "detail" else str(r[key]))
    exemption = r.get("exemption")
    if isinstance(exemption, Mapping):
        bits.append(f"exemption {exemption.get('id')} until {_expiry(exemption.get('expires'))}")
    return "; ".join(bits)


def run_show(source: TrailSource, flt: Filter, out: TextIO, width: int = 60) -> int:
    """A readable table, oldest first."""
    rows = [("WHEN (LONDON)", "KIND", "CACHE", "RULE", "SEV", "OUTCOME / DETAIL")]
    for r in flt.apply(load_records(source)):
        summary = _summary(r)
        if len(summary) > width:
            summary = summary[: width - 1] + "…"
        rows.append((london_text(str(r["time"])), str(r.get("kind", "")), _short_cache(r.get("cache_id")),
                     str(r.get("rule") or ""), str(r.get("severity") or ""), summary))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        out.write("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip() + "\n")
    out.write(f"{len(rows) - 1} record(s)\n")
    return 0
