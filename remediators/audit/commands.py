"""The audit subcommands as plain functions: parsed arguments in, text on a stream and an exit code out.

The CLI (`python -m remediators audit ...`, `report`) only parses arguments and builds the blob service
from the app's storage settings; `--file` needs no storage. Exit codes: 0 success, 1 verification found
tampering, 2 bad arguments or a trail that is missing, empty or unreadable (a message on `err`, nothing on
`out`).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any, TextIO

from azure.core.exceptions import AzureError

from .export import Filter, run_export, run_show
from .londontime import parse_uk_date
from .reader import TrailSource, load_records, open_source, require_trail
from .report import run_report
from .verify import DEFAULT_MAX_CHECKPOINT_AGE, run_verify

EXIT_OK, EXIT_TAMPERED, EXIT_USAGE = 0, 1, 2


def _source(file: str | None, blob_service: Any, container: str, checkpoint_container: str) -> TrailSource:
    """The trail to read; a missing, empty or unreadable one is refused here (`TrailUnavailable`, exit 2)."""
    source = open_source(file=file, blob_service=blob_service, container=container,
                         checkpoint_container=checkpoint_container)
    require_trail(source)
    return source


def _filter(since: str | None, until: str | None, cache: str | None, rule: str | None) -> Filter:
    return Filter(since=parse_uk_date(since) if since else None, until=parse_uk_date(until) if until else None,
                  cache=cache, rule=rule)


def _check_format(format: str) -> None:
    if format not in ("csv", "json"):
        raise ValueError(f"--format must be csv or json, not {format!r}")


def _usage_error(exc: ValueError, err: TextIO | None) -> int:
    """Bad arguments (dates, format, where the trail is) exit 2 before anything is read."""
    print(f"error: {exc}", file=err or sys.stderr)
    return EXIT_USAGE


def audit_verify(
    *, file: str | None = None, blob_service: Any = None, container: str = "audit",
    checkpoint_container: str = "audit-checkpoints", key_fingerprint: str | Sequence[str] | None = None,
    max_checkpoint_age_hours: float | None = None, now: datetime | None = None,
    out: TextIO | None = None, err: TextIO | None = None,
) -> int:
    """`audit verify [--file PATH] [--key-fingerprint FP[,FP...]] [--max-checkpoint-age HOURS]` (several
    keys while one is rotated out; age 0 accepts a newest checkpoint of any age, for archived copies)."""
    fps = key_fingerprint.split(",") if isinstance(key_fingerprint, str) else key_fingerprint
    if max_checkpoint_age_hours is not None and max_checkpoint_age_hours < 0:
        return _usage_error(ValueError("--max-checkpoint-age must be 0 or more hours"), err)
    max_age: timedelta | None = DEFAULT_MAX_CHECKPOINT_AGE
    if max_checkpoint_age_hours is not None:
        max_age = timedelta(hours=max_checkpoint_age_hours) if max_checkpoint_age_hours > 0 else None
    try:
        source = _source(file, blob_service, container, checkpoint_container)
    except ValueError as exc:
        return _usage_error(exc, err)
    return run_verify(source, fps, out or sys.stdout, now=now, max_checkpoint_age=max_age)


def audit_export(
    *, format: str, since: str | None = None, until: str | None = None, cache: str | None = None,
    rule: str | None = None, file: str | None = None, blob_service: Any = None, container: str = "audit",
    checkpoint_container: str = "audit-checkpoints", out: TextIO | None = None, err: TextIO | None = None,
) -> int:
    """`audit export --format csv|json [--since DD/MM/YYYY] [--until DD/MM/YYYY] [--cache ID] [--rule R]`."""
    try:
        flt = _filter(since, until, cache, rule)
        _check_format(format)
        source = _source(file, blob_service, container, checkpoint_container)
    except ValueError as exc:
        return _usage_error(exc, err)
    return run_export(source, format, flt, out or sys.stdout)


def audit_show(
    *, since: str | None = None, until: str | None = None, cache: str | None = None, rule: str | None = None,
    file: str | None = None, blob_service: Any = None, container: str = "audit",
    checkpoint_container: str = "audit-checkpoints", out: TextIO | None = None, err: TextIO | None = None,
) -> int:
    """`audit show [filters as export]`: a readable table."""
    try:
        flt = _filter(since, until, cache, rule)
        source = _source(file, blob_service, container, checkpoint_container)
    except ValueError as exc:
        return _usage_error(exc, err)
    return run_show(source, flt, out or sys.stdout)


def audit_ingest(
    *, upload: Any, since: str | None = None, until: str | None = None, cache: str | None = None,
    rule: str | None = None, file: str | None = None, blob_service: Any = None, container: str = "audit",
    checkpoint_container: str = "audit-checkpoints", out: TextIO | None = None, err: TextIO | None = None,
) -> int:
    """`audit ingest [filters as export]`: re-send stored records as table rows; 1 if an upload fails."""
    from .log_ingestion import ingest

    try:
        flt = _filter(since, until, cache, rule)
        source = _source(file, blob_service, container, checkpoint_container)
    except ValueError as exc:
        return _usage_error(exc, err)
    records = flt.apply(load_records(source))
    try:
        sent = ingest(upload, records)
    except AzureError as exc:
        print(f"error: upload failed: {exc.__class__.__name__}: {str(exc).splitlines()[0] if str(exc) else ''}",
              file=err or sys.stderr)
        return 1  # the upload failed: what was sent before it is in Log Analytics, the rest is not
    print(f"sent {sent} record(s) from {source.description}", file=out or sys.stdout)
    return EXIT_OK


def posture_report(
    *, format: str, file: str | None = None, blob_service: Any = None, container: str = "audit",
    checkpoint_container: str = "audit-checkpoints", out: TextIO | None = None, err: TextIO | None = None,
    now: datetime | None = None,
) -> int:
    """`report --format csv|json`: open findings by severity, exemptions and expiry, last remediation."""
    try:
        _check_format(format)
        source = _source(file, blob_service, container, checkpoint_container)
    except ValueError as exc:
        return _usage_error(exc, err)
    return run_report(source, format, out or sys.stdout, now)
