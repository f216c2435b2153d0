"""The audit record, version 1: what a record holds, how it is hashed and how personal data is minimised.

Pure functions only. A record is a flat JSON object; `hash` is SHA-256 over the canonical JSON of every
other field, and `prev_hash` is the previous record's `hash` in the same chain (`GENESIS` for the first),
so editing, removing, reordering or duplicating a record breaks a link that any verifier can recompute.
docs/audit.md documents every field; keep the two in step.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from ..models import Actor
from .canonical import canonical_json, format_utc, sha256_hex, to_jsonable

SCHEMA_VERSION = 1  # unsigned records (no signing key configured; every record before signatures)
SIGNED_SCHEMA_VERSION = 2  # v1 + `writer_cert` and `sig`: a certified writer key signed the record's hash
GENESIS = "0" * 64

# Kinds that are about one cache: a record of these kinds without a cache id could not be reviewed.
CACHE_KINDS: frozenset[str] = frozenset(
    {
        "detected", "remediation-started", "remediation-pending", "remediated", "remediation-failed", "deferred",
        "blocked",
        "skipped-dry-run", "skipped-exempt", "manual-action-required", "gone", "not-evaluated", "resumed",
        "evaluated",
    }
)
# Kinds about the service or an event rather than one cache (a cache id is optional there).
SERVICE_KINDS: frozenset[str] = frozenset(
    {"ignored-event", "alert", "scan-started", "scan-finished", "baseline-changed", "breaker-reset",
     "report-published"}
)
KINDS: frozenset[str] = CACHE_KINDS | SERVICE_KINDS
SEVERITIES: frozenset[str] = frozenset({"critical", "high", "medium", "low"})

# Fields the trail itself sets or that `record()` takes by name; `extra` may not shadow them.
RESERVED: frozenset[str] = frozenset(
    {
        "v", "chain", "seq", "time", "writer", "kind", "cache_id", "rule", "severity", "before", "after",
        "trigger", "drift_actor", "identity", "request_id", "outcome", "baseline", "detail", "prev_hash",
        "hash", "writer_cert", "sig",
    }
)
# Claims that identify a person by name (UK GDPR): kept only with WARDEN_RECORD_UPN=true.
PERSONAL_KEYS: frozenset[str] = frozenset(
    {"upn", "name", "unique_name", "email", "given_name", "family_name", "preferred_username"}
)
_EXTRA_KEY = re.compile(r"^[a-z][a-z0-9_]{0,63}$")


class RecordError(ValueError):
    """The caller asked for a record the schema does not allow; nothing was written."""


@dataclass(frozen=True)
class ChainHead:
    """The last record of a chain: where the next record links to."""

    chain: str
    seq: int
    hash: str
    time: str
    segment: str = ""  # blob name or file name holding that record
    # The stored record itself, when the sink read it: a checkpoint signs a head only after checking it.
    record: Mapping[str, Any] | None = field(default=None, compare=False, repr=False)


class RecordSigner(Protocol):
    """What `build_record` needs to sign: the writer's certificate and a signature over a record hash."""

    cert: Mapping[str, Any]

    def sign_record(self, record_hash: str) -> str: ...


def minimise_actor(actor: Actor | Mapping[str, Any] | None, record_upn: bool) -> dict[str, Any] | None:
    """An actor as the trail may store it: object and app ids always, names only when allowed."""
    if actor is None:
        return None
    if isinstance(actor, Actor):
        out: dict[str, Any] = actor.minimal(record_upn)
        if actor.managed_identity_id:
            out["mirid"] = actor.managed_identity_id
        return out
    if isinstance(actor, Mapping):
        plain = to_jsonable(actor)
        return {k: v for k, v in plain.items() if record_upn or k.lower() not in PERSONAL_KEYS}
    raise RecordError(f"an actor must be an Actor or a mapping, not {type(actor).__name__}")


def _trigger(trigger: Mapping[str, Any] | None, record_upn: bool) -> dict[str, Any] | None:
    if trigger is None:
        return None
    if not isinstance(trigger, Mapping):
        raise RecordError("trigger must be a mapping (event id, type, correlation id, actor) or {scan_id}")
    out = {k: to_jsonable(v) for k, v in trigger.items() if k != "actor"}
    if trigger.get("actor") is not None:
        out["actor"] = minimise_actor(trigger["actor"], record_upn)
    return out


def _drift_actor(
    drift_actor: Actor | Mapping[str, Any] | str | None, trigger: Mapping[str, Any] | None, record_upn: bool
) -> dict[str, Any] | None:
    """Attributable drift names its actor; otherwise the record says `unknown` and keeps the correlation
    id, which is what lets a reviewer find the write in the Activity Log."""
    if drift_actor is None:
        return None
    if isinstance(drift_actor, str):
        if drift_actor != "unknown":
            raise RecordError('drift_actor must be an actor mapping or the string "unknown"')
        return {"unknown": True, "correlation_id": (trigger or {}).get("correlation_id")}
    return minimise_actor(drift_actor, record_upn)


def record_hash(record: Mapping[str, Any]) -> str:
    """SHA-256 over every field but `hash` and `sig` (the signature is over this hash)."""
    return sha256_hex(canonical_json({k: v for k, v in record.items() if k not in ("hash", "sig")}))


def build_record(
    *,
    kind: str,
    chain: str,
    seq: int,
    prev_hash: str,
    time: datetime,
    writer: str,
    baseline_hash: str,
    identity: Mapping[str, Any] | None,
    record_upn: bool,
    cache_id: Any = None,
    rule: str | None = None,
    severity: str | None = None,
    before: Any = None,
    after: Any = None,
    trigger: Mapping[str, Any] | None = None,
    drift_actor: Actor | Mapping[str, Any] | str | None = None,
    request_id: str | None = None,
    outcome: Mapping[str, Any] | None = None,
    detail: str | None = None,
    extra: Mapping[str, Any] | None = None,
    signer: RecordSigner | None = None,
) -> dict[str, Any]:
    """A complete, hashed record, signed (schema v2) when a writer key is given. Raises RecordError for
    anything a reviewer could not rely on."""
    if kind not in KINDS:
        raise RecordError(f"unknown audit kind {kind!r}")
    if kind in CACHE_KINDS and not cache_id:
        raise RecordError(f"a {kind!r} record needs a cache_id")
    sev = to_jsonable(severity)
    if sev is not None and sev not in SEVERITIES:
        raise RecordError(f"unknown severity {sev!r}")
    extra = dict(extra or {})
    for key in extra:
        if key in RESERVED or not _EXTRA_KEY.match(key):
            raise RecordError(f"{key!r} cannot be an extra audit field")
    _check_kind_fields(kind, extra, outcome, trigger)
    if outcome is not None and not isinstance(outcome, Mapping):
        raise RecordError("outcome must be a mapping such as {'code': ..., 'message': ...}")

    record: dict[str, Any] = {
        "v": SIGNED_SCHEMA_VERSION if signer is not None else SCHEMA_VERSION,
        "chain": chain,
        "seq": seq,
        "time": format_utc(time),
        "writer": writer,
        "kind": kind,
        "baseline": baseline_hash,
        "prev_hash": prev_hash,
    }
    optional = {
        "cache_id": to_jsonable(cache_id),
        "rule": rule,
        "severity": sev,
        "before": to_jsonable(before),
        "after": to_jsonable(after),
        "trigger": _trigger(trigger, record_upn),
        "drift_actor": _drift_actor(drift_actor, trigger, record_upn),
        "identity": minimise_actor(identity, record_upn),
        "request_id": request_id,
        "outcome": to_jsonable(outcome),
        "detail": detail,
    }
    record.update({k: v for k, v in optional.items() if v is not None})
    for key, value in extra.items():
        if key in ("actor", "caller"):
            value = minimise_actor(value, record_upn)
        if value is not None:
            record[key] = to_jsonable(value)
    if signer is not None:
        record["writer_cert"] = to_jsonable(signer.cert)
    record["hash"] = record_hash(record)
    if signer is not None:
        record["sig"] = signer.sign_record(record["hash"])
    return record


def _check_kind_fields(
    kind: str, extra: Mapping[str, Any], outcome: Mapping[str, Any] | None, trigger: Mapping[str, Any] | None
) -> None:
    if kind == "skipped-dry-run" and not extra.get("dry_run_source"):
        raise RecordError("a skipped-dry-run record must name its dry_run_source")
    if kind == "skipped-exempt":
        exemption = to_jsonable(extra.get("exemption"))
        if not isinstance(exemption, Mapping) or not all(exemption.get(k) for k in ("id", "approver", "expires")):
            raise RecordError("a skipped-exempt record needs exemption {id, approver, expires}")
    if kind == "baseline-changed" and "diff" not in extra:
        raise RecordError("a baseline-changed record needs its diff")
    if kind in ("remediation-failed", "blocked") and not outcome:
        raise RecordError(f"a {kind!r} record needs the outcome (error code and message)")
    if kind == "resumed" and not isinstance(to_jsonable(extra.get("intent")), Mapping):
        raise RecordError("a 'resumed' record must name the open intent it found")
    if kind == "report-published" and not (extra.get("report_month") and extra.get("container")
                                           and isinstance(to_jsonable(extra.get("blobs")), list)):
        raise RecordError("a 'report-published' record needs report_month, container and blobs")
    if kind in ("scan-started", "scan-finished") and not (extra.get("scan_id") or (trigger or {}).get("scan_id")):
        raise RecordError(f"a {kind!r} record needs a scan_id")


def record_id(record: Mapping[str, Any]) -> str:
    return f"{record.get('chain')}#{record.get('seq')}"
