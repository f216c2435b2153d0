"""Reading and validating the baseline document: JSON text -> checked, frozen parts.

Validation runs to completion before anything is built, and every failure raises `BaselineError` naming
the field (JSON pointer), so a bad document is refused whole and never half-applied. The JSON Schema
(`remediators/baseline.schema.json`, published for editors) checks shape; this module checks what a schema
cannot: rule ids against the live registry, ARM ids, IP ranges, dates, time zones and duplicates.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from functools import cache
from pathlib import Path
from types import MappingProxyType
from typing import Any
from zoneinfo import ZoneInfo

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError, best_match

from ..ipranges import InvalidRange, parse_range
from ..models import Effect, Exemption
from ..resource_ids import InvalidResourceId, Scope, parse_scope
from ..rules.base import Rule
from .errors import BaselineError, pointer
from .windows import MaintenanceWindow, parse_window

PACKAGE_DIR = Path(__file__).resolve().parent.parent
SCHEMA_PATH = PACKAGE_DIR / "baseline.schema.json"
DEFAULT_PATH = PACKAGE_DIR / "default_baseline.json"
EXEMPTION_DATE_ZONE = ZoneInfo("Europe/London")  # a bare date is valid to the end of that UK day

# Parameters that hold ARM ids of a given type (compared case-insensitively, as ARM does).
_ARM_ID_PARAMS = {
    ("diagnostic-logs", "workspaceId"): "/providers/microsoft.operationalinsights/workspaces/",
    ("amr-diagnostic-logs", "workspaceId"): "/providers/microsoft.operationalinsights/workspaces/",
    ("auth-alerts", "workspaceId"): "/providers/microsoft.operationalinsights/workspaces/",
    ("metric-alerts", "actionGroupId"): "/providers/microsoft.insights/actiongroups/",
}


@dataclass(frozen=True)
class RuleSetting:
    effect: Effect
    parameters: Mapping[str, Any]
    named: bool  # the document names the rule (a rule it does not name never remediates)


@dataclass(frozen=True)
class ScopeSetting:
    scope: Scope
    parameters: Mapping[str, Mapping[str, Any]]  # rule id -> parameters overriding less specific scopes
    opt_in: frozenset[str] | None  # None: not set here, inherit
    windows: tuple[MaintenanceWindow, ...] | None  # None: not set here, inherit
    path: str  # JSON pointer of the entry, for messages


@dataclass(frozen=True)
class ScopedExemption:
    exemption: Exemption
    scope: Scope


@dataclass(frozen=True)
class ParsedDocument:
    document: Mapping[str, Any]
    dry_run: bool
    rules: Mapping[str, RuleSetting]
    scopes: tuple[ScopeSetting, ...]
    exemptions: tuple[ScopedExemption, ...]


def freeze(value: Any) -> Any:
    """Deep read-only copy: a loaded baseline must not change under the rules that read it."""
    if isinstance(value, Mapping):
        return MappingProxyType({k: freeze(v) for k, v in value.items()})
    if isinstance(value, list | tuple):
        return tuple(freeze(v) for v in value)
    return value


def thaw(value: Any) -> Any:
    """Plain JSON-compatible copy of a frozen value (for hashing, diffing and printing)."""
    if isinstance(value, Mapping):
        return {k: thaw(v) for k, v in value.items()}
    if isinstance(value, tuple | list):
        return [thaw(v) for v in value]
    return value


@cache
def _validator() -> Draft202012Validator:
    schema = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema)


def read_source(source: str | None) -> tuple[Any, str]:
    """Path, inline JSON (starts with "{") or None (shipped default) -> (parsed JSON, description)."""
    if source is None:
        text, where = DEFAULT_PATH.read_text(encoding="utf-8"), str(DEFAULT_PATH)
    elif source.lstrip().startswith("{"):
        text, where = source, "inline JSON"
    else:
        path = Path(source)
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise BaselineError("", f"cannot read baseline file {source!r}: {exc.strerror or exc}") from exc
        where = str(path)
    try:
        return json.loads(text), where
    except json.JSONDecodeError as exc:
        where_in = f"line {exc.lineno}, column {exc.colno}"
        raise BaselineError("", f"{where} is not valid JSON: {exc.msg} ({where_in})") from exc


def _schema_error(error: ValidationError) -> BaselineError:
    parts: list[str | int] = list(error.absolute_path)
    if "propertyNames" in error.absolute_schema_path:
        return BaselineError(pointer([*parts, str(error.instance)]), f"unknown rule id {error.instance!r}")
    if error.validator == "additionalProperties" and isinstance(error.instance, Mapping):
        allowed = set(error.schema.get("properties", {}))
        extra = sorted(k for k in error.instance if k not in allowed)
        if extra:
            return BaselineError(pointer([*parts, extra[0]]), f"unknown field {extra[0]!r}")
    if error.validator == "required" and isinstance(error.instance, Mapping):
        missing = [k for k in error.validator_value if k not in error.instance]
        if missing:
            return BaselineError(pointer([*parts, missing[0]]), "required field is missing")
    return BaselineError(pointer(parts), error.message)


def _check_schema(doc: Any) -> None:
    errors = list(_validator().iter_errors(doc))
    if errors:
        first = best_match(errors)
        raise _schema_error(first)


def _known(rule_id: str, known: Mapping[str, Rule], path: str) -> None:
    if rule_id not in known:
        raise BaselineError(path, f"unknown rule id {rule_id!r}")


def _check_parameters(rule_id: str, params: Mapping[str, Any], path: str) -> None:
    """Semantic checks on values the schema can only type-check."""
    if rule_id == "firewall":
        for i, text in enumerate(params.get("allowedRanges", ())):
            try:
                parse_range(text)
            except InvalidRange as exc:
                raise BaselineError(f"{path}/allowedRanges/{i}", str(exc)) from exc
    for (owner, key), marker in _ARM_ID_PARAMS.items():
        value = params.get(key) if owner == rule_id else None
        if value is not None and not _is_arm_id_of(value, marker):
            raise BaselineError(f"{path}/{key}", f"{value!r} is not an ARM id containing {marker!r}")


def _is_arm_id_of(value: str, marker: str) -> bool:
    lower = value.lower()
    return lower.startswith("/subscriptions/") and marker in lower and not lower.endswith(marker)


def _scope(raw: str, path: str) -> Scope:
    try:
        return parse_scope(raw)
    except InvalidResourceId as exc:
        raise BaselineError(path, f"not a subscription, resource group or cache id: {exc}") from exc


_UK_DATE = re.compile(r"^(\d{2})/(\d{2})/(\d{4})$")


def _expiry(raw: str, path: str) -> datetime:
    """An ISO 8601 date-time with an offset, or a date: ISO `2026-12-31` or UK `31/12/2026` (the CLI's and
    the pack's form), valid to the end of that London day."""
    try:
        uk = _UK_DATE.match(raw)
        if uk:
            day_of_month, month, year = (int(g) for g in uk.groups())
            day = date(year, month, day_of_month)
        elif len(raw) == 10:
            day = date.fromisoformat(raw)
        else:
            day = None
        if day is not None:
            return datetime.combine(day + timedelta(days=1), time(0), tzinfo=EXEMPTION_DATE_ZONE)
        moment = datetime.fromisoformat(raw)
    except ValueError as exc:
        raise BaselineError(path, f"{raw!r} is not a date (DD/MM/YYYY or YYYY-MM-DD) or an ISO 8601 date-time"
                            ) from exc
    if moment.tzinfo is None:
        raise BaselineError(path, f"{raw!r} has no UTC offset (add 'Z' or '+01:00'); a bare date also works")
    return moment


def _refuse_expired(exemption: Exemption, path: str, now: datetime | None) -> None:
    """An exemption that has already expired is a stale approval: refuse the document instead of loading
    it silently (the reviewer renews it with a new approval or removes it)."""
    if now is None or now < exemption.expires:
        return
    local = exemption.expires.astimezone(EXEMPTION_DATE_ZONE)
    if local.time() == time(0):
        last = (local - timedelta(days=1)).strftime("%d/%m/%Y")
        when = f"at the end of {last}"
    else:
        when = f"at {local.strftime('%d/%m/%Y %H:%M')} {local.tzname()}"
    raise BaselineError(path, f"exemption {exemption.id!r} expired {when} ({exemption.expires.isoformat()}): "
                        "renew it with a new expiry and approval, or remove it")


def parse_document(
    doc: Any, known: Mapping[str, Rule], disruptive: frozenset[str], *, now: datetime | None = None
) -> ParsedDocument:
    """Validate everything, then build: a failure anywhere leaves nothing behind. With `now`, an exemption
    already expired at `now` is refused."""
    if isinstance(doc, Mapping) and isinstance(doc.get("rules"), Mapping):
        for rule_id in doc["rules"]:
            _known(rule_id, known, pointer(["rules", rule_id]))
    _check_schema(doc)

    rules: dict[str, RuleSetting] = {}
    for rule_id, rule in known.items():
        entry = doc["rules"].get(rule_id)
        if entry is None:
            default = rule.metadata.default_effect
            effect = Effect.AUDIT if default is Effect.REMEDIATE else default
            rules[rule_id] = RuleSetting(effect, freeze({}), named=False)
            continue
        params = entry.get("parameters", {})
        _check_parameters(rule_id, params, pointer(["rules", rule_id, "parameters"]))
        rules[rule_id] = RuleSetting(Effect(entry["effect"]), freeze(params), named=True)

    scopes: list[ScopeSetting] = []
    seen: dict[str, str] = {}
    for i, entry in enumerate(doc.get("scopes", ())):
        path = pointer(["scopes", i])
        scope = _scope(entry["scope"], f"{path}/scope")
        key = scope.arm_id.lower()
        if key in seen:
            raise BaselineError(f"{path}/scope", f"scope already configured at {seen[key]}")
        seen[key] = path
        for rule_id, params in entry.get("parameters", {}).items():
            _known(rule_id, known, f"{path}/parameters/{rule_id}")
            _check_parameters(rule_id, params, f"{path}/parameters/{rule_id}")
        opt_in = entry.get("optIn")
        for j, rule_id in enumerate(opt_in or ()):
            _known(rule_id, known, f"{path}/optIn/{j}")
            if rule_id not in disruptive:
                raise BaselineError(
                    f"{path}/optIn/{j}", f"rule {rule_id!r} has no disruptive remediation (or opt-in read) to opt in to"
                )
        windows = entry.get("maintenanceWindows")
        parsed_windows = (
            None
            if windows is None
            else tuple(parse_window(w, f"{path}/maintenanceWindows/{j}") for j, w in enumerate(windows))
        )
        scopes.append(
            ScopeSetting(
                scope=scope,
                parameters=freeze(entry.get("parameters", {})),
                opt_in=None if opt_in is None else frozenset(opt_in),
                windows=parsed_windows,
                path=path,
            )
        )

    exemptions: list[ScopedExemption] = []
    ids: dict[str, str] = {}
    for i, entry in enumerate(doc.get("exemptions", ())):
        path = pointer(["exemptions", i])
        if entry["id"] in ids:
            raise BaselineError(f"{path}/id", f"exemption id {entry['id']!r} already used at {ids[entry['id']]}")
        ids[entry["id"]] = path
        _known(entry["rule"], known, f"{path}/rule")
        scope = _scope(entry["scope"], f"{path}/scope")
        exemption = Exemption(
            id=entry["id"],
            rule=entry["rule"],
            scope=scope.arm_id,
            expires=_expiry(entry["expires"], f"{path}/expires"),
            justification=entry["justification"],
            approver=entry["approver"],
        )
        _refuse_expired(exemption, f"{path}/expires", now)
        exemptions.append(ScopedExemption(exemption, scope))

    return ParsedDocument(
        document=freeze(doc),
        dry_run=bool(doc.get("dryRun", False)),  # absent: WARDEN_DRY_RUN decides alone
        rules=MappingProxyType(rules),
        scopes=tuple(scopes),
        exemptions=tuple(exemptions),
    )


def canonical_json(doc: Any) -> bytes:
    """Sorted keys, no spaces, UTF-8: the bytes the version hash is taken over."""
    return json.dumps(thaw(doc), sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def rule_ids_in(rules: Sequence[Rule]) -> dict[str, Rule]:
    return {r.metadata.id: r for r in rules}
