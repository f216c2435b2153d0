"""What each Azure Functions trigger does, in plain Python so `function_app.py` stays a few lines each.

Failure policy: a message we cannot parse or will not accept is audited and dropped (retrying would not
make it parse); a failure of our own dependencies (storage, audit sink) raises, so the host retries the
message and, after `maxDequeueCount`, moves it to the poison queue, where `on_poison` raises an `alert`.
Message bodies never reach the trail as text (UK GDPR minimisation): only ids and a SHA-256 (`redact`).
A runtime that cannot start (bad setting or baseline) still lets the poison path alert, and HTTP answers
503 naming the reason.
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from ..audit.log_ingestion import flush_installed
from ..engine.authority import vouched
from ..events import parse_message
from ..redact import body_digest
from ..resource_ids import FleetScope, InvalidResourceId, parse_scan_scope, parse_scope
from ..settings import WORK_QUEUE
from ..state.storage import send_text
from ..workitem import InvalidWorkItem, WorkItem
from .runtime import Runtime, StartupFailed, fallback_trail, get_runtime
from .scan import (
    ListingFailed,
    ScanScope,
    ScopeNotAllowed,
    enqueue_scans,
    open_scan,
    record_scan_result,
    start_scan,
)

log = logging.getLogger("redis_warden.triggers")

MAX_SCAN_REQUEST_BYTES = 4096
_SCAN_ID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
# A host clock may run a little ahead of the one that wrote an item; more than this is a forged time.
CLOCK_SKEW = timedelta(minutes=5)
# Queue visibility delays end within 7 days, and the deferrer never asks for more.
MAX_NOT_BEFORE = timedelta(days=7)


def _refusal(item: WorkItem, now: datetime) -> str | None:
    """Why a well-formed WorkItem is still not acceptable, or None. Each of these once made an item be
    retried into poison (or never given up) instead of being refused."""
    if item.first_seen > now + CLOCK_SKEW:
        return "first_seen is in the future"
    if item.not_before is not None and item.not_before > now + MAX_NOT_BEFORE:
        return "not_before is more than 7 days ahead"
    scan_id = item.trigger.get("scan_id")
    if scan_id is not None and not _SCAN_ID.match(scan_id):
        return "trigger.scan_id is not a scan id (lowercase UUID)"
    return None


def _field_of(exc: Exception) -> str:
    """The field an InvalidWorkItem names, without the offending text (which may hold anything)."""
    return str(exc).split(":", 1)[0][:80] or "malformed"


def on_resource_event(body: str, *, message_id: str, dequeue_count: int, rt: Runtime | None = None) -> None:
    rt = rt or get_runtime()
    for parsed in parse_message(body):
        rt.intake.handle_event(parsed)
    rt.audit.checkpoint_if_due()
    flush_installed()  # audit rows to Log Analytics, when configured


def on_work_item(body: str, *, message_id: str, dequeue_count: int, rt: Runtime | None = None) -> None:
    rt = rt or get_runtime()
    now = datetime.now(UTC)
    try:
        item = WorkItem.from_json(body)
    except InvalidWorkItem as exc:
        why: str | None = _field_of(exc)
    except RecursionError:
        why = "nested too deeply"
    else:
        why = _refusal(item, now)
    if why is not None:
        log.warning("work item %s dropped: %s", message_id, why)
        rt.audit.record("ignored-event", detail=f"invalid work item dropped: {why}", message_id=message_id,
                        **body_digest(body))
        return
    # A queued item carries no authority: its claims are reduced to what the state table vouches for.
    item = vouched(item, rt.state, now)
    if item.not_before and item.not_before > now:
        # Visible early (e.g. re-enqueued by hand): put it back for the remaining time instead of sleeping.
        send_text(rt.queue(WORK_QUEUE), item.to_json(),
                  visibility_timeout=max(1, int((item.not_before - now).total_seconds() + 0.999)))
        return
    result = rt.engine.reconcile(item)
    record_scan_result(rt, item, result)
    rt.audit.checkpoint_if_due()
    flush_installed()  # audit rows to Log Analytics, when configured


def on_poison(queue_name: str, body: str, *, message_id: str, dequeue_count: int,
              rt: Runtime | None = None) -> None:
    log.error("message %s reached %s after %d dequeues", message_id, queue_name, dequeue_count)
    detail = f"message reached {queue_name}; it was not processed and needs review"
    if rt is None:
        try:
            rt = get_runtime()
        except StartupFailed as exc:
            # Nothing can be processed, but the message must not vanish unrecorded: alert through a trail
            # that needs only the storage settings, naming why the app cannot start.
            fallback_trail().record("alert", detail=f"{detail}; {exc}", queue=queue_name, message_id=message_id,
                                    dequeue_count=dequeue_count, startup_error=str(exc), **body_digest(body))
            return
    rt.audit.record("alert", detail=detail, queue=queue_name, message_id=message_id, dequeue_count=dequeue_count,
                    **body_digest(body))


SCOPE_HELP = ("a subscription, resource group or cache id, or a management group id "
              "(/providers/Microsoft.Management/managementGroups/{name})")


@dataclass(frozen=True)
class ScanRequest:
    scope: ScanScope
    dry_run: bool


@dataclass(frozen=True)
class Refusal:
    """A scan request refused before any ARM call: what the caller is told (`error`, which may quote the
    request) and what the trail keeps (`reason`, fixed words: the body is never recorded as text)."""

    status: int
    error: str
    reason: str


def parse_scan_request(body: bytes) -> ScanRequest | Refusal:
    """`{"scope": "<ARM id>", "dryRun": true}`, strictly; anything else is a `Refusal` (never an exception)."""
    if len(body) > MAX_SCAN_REQUEST_BYTES:
        return Refusal(413, f"request body larger than {MAX_SCAN_REQUEST_BYTES} bytes", "body too large")
    try:
        request = json.loads(body or b"null")
    except (ValueError, UnicodeDecodeError, RecursionError):
        return Refusal(400, "request body must be JSON: {\"scope\": \"<ARM id>\", \"dryRun\": true}", "not JSON")
    if not isinstance(request, dict):
        return Refusal(400, "request body must be a JSON object", "not a JSON object")
    unknown = set(request) - {"scope", "dryRun"}
    if unknown:
        return Refusal(400, f"unknown fields: {', '.join(sorted(map(str, unknown)))}", "unknown fields")
    dry_run = request.get("dryRun", False)
    if not isinstance(dry_run, bool):
        return Refusal(400, "dryRun must be true or false", "dryRun is not a boolean")
    if "scope" not in request:
        return Refusal(400, f"scope: required, {SCOPE_HELP}", "scope missing")
    try:
        scope = parse_scan_scope(request["scope"])
    except InvalidResourceId as exc:
        return Refusal(400, f"scope: {exc}; expected {SCOPE_HELP}",
                       "scope is not a subscription, resource group, cache or management group id in ARM's grammar")
    return ScanRequest(scope, dry_run)


def _record_refusal(rt: Runtime | None, body: bytes, refusal: Refusal, caller: str | None) -> None:
    """A refused scan request on the trail: `ignored-event` with the fixed reason and the body's digest."""
    log.warning("scan refused for %s (%d): %s", caller or "unknown caller", refusal.status, refusal.reason)
    if rt is None:
        try:
            rt = get_runtime()
        except StartupFailed:
            return  # the 4xx still answers; with no runtime there is no trail to write to (HTTP 503 elsewhere)
    rt.audit.record("ignored-event", detail=f"scan request refused ({refusal.status}): {refusal.reason}",
                    source="http-request", http_status=refusal.status, **body_digest(body))


def post_scan(body: bytes, *, caller: str | None, rt: Runtime | None = None) -> tuple[int, dict[str, Any]]:
    """`POST /api/scans {"scope": "<ARM id>", "dryRun": true}` -> 202 {"scanId", "cacheCount"}. The scope may
    be a management group id: its caches in WARDEN_SUBSCRIPTIONS, listed with Azure Resource Graph. A refused
    request is audited (`ignored-event`); a scope ARM says does not exist answers 404, one whose listing ARM
    cut or refused answers 502, both with what failed (`ListingFailed.public`), audited by the same code as the
    nightly timer's."""
    parsed = parse_scan_request(body)
    if isinstance(parsed, Refusal):
        _record_refusal(rt, body, parsed, caller)
        return parsed.status, {"error": parsed.error}
    scope, dry_run = parsed.scope, parsed.dry_run
    try:
        rt = rt or get_runtime()
    except StartupFailed as exc:
        return 503, {"error": str(exc)}
    try:
        scan_id, count = start_scan(rt, scope, dry_run=dry_run, source="http-request")
    except ScopeNotAllowed as exc:
        _record_refusal(rt, body, Refusal(403, str(exc), "a subscription of the scope is not in WARDEN_SUBSCRIPTIONS"),
                        caller)
        log.warning("scan refused for %s: %s", caller or "unknown caller", exc)
        return 403, {"error": str(exc)}
    except ListingFailed as exc:  # already audited, as the timer's and the CLI's are
        log.warning("scan of %s not started: %s", scope.arm_id, exc)
        if exc.scope_not_found:  # a scope that does not exist is the request's fault: 404, not our 502
            return 404, {**exc.public(), "error": f"{scope.arm_id} was not found in ARM, so no scan was started"}
        return 502, exc.public()
    sources = rt.engine.dry_run.requested(dry_run, "http-request")
    return 202, {"scanId": scan_id, "cacheCount": count, "dryRun": bool(sources), "dryRunSources": list(sources)}


def get_scan(scan_id: str, *, rt: Runtime | None = None) -> tuple[int, dict[str, Any]]:
    if not _SCAN_ID.match(scan_id or ""):
        return 400, {"error": "scan id must be a lowercase UUID"}
    try:
        rt = rt or get_runtime()
    except StartupFailed as exc:
        return 503, {"error": str(exc)}
    progress = rt.state.scan(scan_id)
    if progress is None:
        return 404, {"error": f"no scan {scan_id}"}
    return 200, progress.as_dict()


def on_checkpoint_timer(*, rt: Runtime | None = None) -> None:
    """Hourly: sign the heads of every chain, so records from instances that have since gone quiet are
    covered by a checkpoint within the hour (design: "at least hourly when records were written")."""
    rt = rt or get_runtime()
    rt.audit.checkpoint()


def on_timer(*, past_due: bool, rt: Runtime | None = None) -> None:
    """Nightly: one scan per allowlisted subscription, their work items queued for the workers interleaved
    by subscription (so every subscription's ARM budget is spent in parallel); or, with
    WARDEN_NIGHTLY_MANAGEMENT_GROUP, one scan of that group (its caches in WARDEN_SUBSCRIPTIONS, Resource Graph)."""
    rt = rt or get_runtime()
    group = rt.settings.nightly_management_group
    if group is not None:
        try:
            start_scan(rt, FleetScope(management_group=group), dry_run=False, source="timer")
        except ListingFailed as exc:  # tonight's gap is already on the record (record_listing_failures)
            log.warning("nightly scan of management group %s not started: %s", group.name, exc)
        return
    opened = []
    for sub in sorted(rt.settings.subscriptions):
        try:
            opened.append(open_scan(rt, parse_scope(f"/subscriptions/{sub}"), dry_run=False, source="timer"))
        except ListingFailed as exc:
            # One unreadable subscription must not stop the others; tonight's gap is already on the record.
            log.warning("nightly scan of %s not started: %s", sub, exc)
    enqueue_scans(rt, opened)


def on_pack_timer(*, rt: Runtime | None = None, now: datetime | None = None) -> None:
    """Monthly, early on the 1st (UTC): the assessment pack for the London month just ended, built from the
    trail `audit verify` reads, into the WORM pack container, with a `report-published` record. A failure is
    audited as an `alert` and raised, so the host's retry policy runs this again (nothing is overwritten)."""
    # Imported here, not at import time: the pack (jinja2, the report builders) is monthly work, and every
    # event would otherwise pay for loading it on a cold start (issue 13).
    from ..audit.reader import open_source
    from ..reporting.publish import publish_monthly_pack

    rt = rt or get_runtime()
    settings = rt.settings
    source = open_source(file=settings.audit_file,
                         blob_service=None if settings.audit_file else rt.storage.blob_service,
                         container=settings.audit_container, checkpoint_container=settings.checkpoint_container)
    try:
        publish_monthly_pack(source, rt.storage.blob_service, settings.pack_container, rt.audit,
                             now=now or datetime.now(UTC))
    finally:
        flush_installed()  # the report-published record, or the alert, to Log Analytics when configured
