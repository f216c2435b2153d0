"""Queue message / delivery body -> `CacheChange` or `IgnoredEvent`.

The body is untrusted: anyone who can write to the queue (or replay a dead-lettered blob) controls it. So
parsing never raises, never guesses, and turns anything it does not fully understand into an
`IgnoredEvent` with a reason the audit trail can show. It only parses; whether a change is our own write or
in an allowed subscription is the engine's decision. The event is only a hint anyway: the engine reads
fresh state from ARM before deciding anything.

Accepted shapes: one event object (what Event Grid's storage-queue handler writes per message) or a JSON
array of events (an HTTP delivery body, e.g. from the dead-letter container), each in the Event Grid schema
or the CloudEvents 1.0 schema.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from azure.core.exceptions import DeserializationError
from azure.core.messaging import CloudEvent
from azure.eventgrid import EventGridEvent

from .models import Actor, CacheChange, IgnoredEvent
from .redact import safe_id
from .resource_ids import InvalidResourceId, cache_of

MAX_BODY_BYTES = 1024 * 1024  # Event Grid caps an event at 1 MB; anything bigger is not from it
WRITE = "Microsoft.Resources.ResourceWriteSuccess"
DELETE = "Microsoft.Resources.ResourceDeleteSuccess"
HANDLED_TYPES = {WRITE.lower(), DELETE.lower()}

CLAIM_OID = "http://schemas.microsoft.com/identity/claims/objectidentifier"
CLAIM_UPN = "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/upn"

# RFC 3339 as Event Grid writes it: up to 7 fractional digits (more than `datetime` holds) and Z or offset.
_TIME = re.compile(
    r"^(\d{4}-\d{2}-\d{2})[Tt](\d{2}:\d{2}:\d{2})(?:\.(\d{1,9}))?([Zz]|[+-]\d{2}:\d{2})$"
)

Parsed = CacheChange | IgnoredEvent


class _Malformed(ValueError):
    """An event field is missing or has the wrong type; the message names it."""


class _DuplicateKey(ValueError):
    pass


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """A JSON object with a repeated key is refused: two `subject`s could make us audit one resource and
    reconcile another, depending on which parser reads the body."""
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise _DuplicateKey(f"duplicate key {safe_id(key) or '(not an identifier)'!r}")
        out[key] = value
    return out


def parse_message(body: str | bytes) -> list[Parsed]:
    """Parse a queue message body (after the binding's base64 decoding) or a delivery body. Returns one
    entry per event; a body that cannot be read at all gives exactly one `IgnoredEvent`."""
    if isinstance(body, bytes | bytearray):
        if len(body) > MAX_BODY_BYTES:
            return [IgnoredEvent(None, f"body larger than {MAX_BODY_BYTES} bytes")]
        try:
            text = bytes(body).decode("utf-8-sig")
        except UnicodeDecodeError:
            return [IgnoredEvent(None, "body is not UTF-8")]
    elif isinstance(body, str):
        text = body
        if len(text) > MAX_BODY_BYTES or len(text.encode("utf-8", "surrogatepass")) > MAX_BODY_BYTES:
            return [IgnoredEvent(None, f"body larger than {MAX_BODY_BYTES} bytes")]
    else:
        return [IgnoredEvent(None, f"body must be str or bytes, not {type(body).__name__}")]
    try:
        doc = json.loads(text, object_pairs_hook=_no_duplicates)
    except _DuplicateKey as exc:
        return [IgnoredEvent(None, f"body is not acceptable JSON: {exc}")]
    except (ValueError, RecursionError):
        return [IgnoredEvent(None, "body is not JSON")]
    if isinstance(doc, list):
        if not doc:
            return [IgnoredEvent(None, "delivery body is an empty array")]
        return [parse_event(item) for item in doc]
    if isinstance(doc, dict):
        return [parse_event(doc)]
    return [IgnoredEvent(None, f"body is JSON {type(doc).__name__}, not an event object or array")]


parse_delivery = parse_message


def _str(obj: Mapping[str, Any], key: str, *, required: bool = True) -> str | None:
    value = obj.get(key)
    if value is None:
        if required:
            raise _Malformed(f"missing {key}")
        return None
    if not isinstance(value, str) or (required and not value.strip()):
        raise _Malformed(f"{key} must be a non-empty string")
    return value


def _claim(claims: Mapping[str, Any], *keys: str) -> str | None:
    for key in keys:
        value = claims.get(key)
        if isinstance(value, str) and value:
            return value
    return None


def caller_type(claims: Mapping[str, Any]) -> str | None:
    """Who made the call, from the token's own claims. `data.authorization.evidence.principalType` is the
    principal of the role assignment that allowed it (a `Group` for a person who is a member), not the
    caller, so it is never used. `idtyp` says it when present; otherwise a delegated token (a person) has
    `scp` or a UPN, and an app-only token has an `appid` and an `oid` (the app's service principal) and
    neither. A managed identity's app token also carries `xms_mirid`."""
    idtyp = (_claim(claims, "idtyp") or "").lower()
    is_app = idtyp == "app" or (not idtyp and not _claim(claims, "scp", CLAIM_UPN, "upn")
                                and bool(_claim(claims, "appid", "azp")) and bool(_claim(claims, CLAIM_OID, "oid")))
    if is_app:
        return "ManagedIdentity" if _claim(claims, "xms_mirid") else "ServicePrincipal"
    if idtyp == "user" or _claim(claims, "scp", CLAIM_UPN, "upn"):
        return "User"
    return None


def actor_of(data: Mapping[str, Any]) -> Actor:
    """The caller from `data.claims` (which may be empty); its type from the claims too (`caller_type`)."""
    claims = data.get("claims")
    claims = claims if isinstance(claims, Mapping) else {}
    principal_type = caller_type(claims)
    return Actor(
        object_id=_claim(claims, CLAIM_OID, "oid"),
        app_id=_claim(claims, "appid", "azp"),
        principal_type=principal_type,
        upn=_claim(claims, CLAIM_UPN, "upn"),
        name=_claim(claims, "name"),
        managed_identity_id=_claim(claims, "xms_mirid"),
    )


def parse_time(value: str) -> datetime:
    """RFC 3339 with up to 9 fractional digits -> timezone-aware UTC (digits beyond microseconds are
    truncated). Not delegated to the SDK: azure-core's CloudEvent keeps the wall-clock time of a
    `+01:00` timestamp and labels it UTC."""
    m = _TIME.match(value)
    if not m:
        raise _Malformed("time is not an RFC 3339 timestamp")
    date, clock, fraction, zone = m.groups()
    micro = (fraction or "").ljust(6, "0")[:6]
    zone = "+00:00" if zone in ("Z", "z") else zone
    try:
        parsed = datetime.fromisoformat(f"{date}T{clock}.{micro}{zone}")
    except ValueError as exc:
        raise _Malformed("time is not a valid date/time") from exc
    return parsed.astimezone(UTC)


def _subscription_of_topic(topic: str) -> str | None:
    parts = topic.strip("/").split("/")
    if len(parts) >= 2 and parts[0].lower() == "subscriptions":
        return parts[1].lower()
    return None


def _fields(event: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
    """Schema name and the fields we rely on, validated; SDK models check the overall shape."""
    if "specversion" in event and "eventType" in event:
        raise _Malformed("event mixes the Event Grid and CloudEvents schemas")
    if "specversion" in event:
        if event.get("specversion") != "1.0":
            raise _Malformed("unsupported CloudEvents specversion (only 1.0)")
        fields = {
            "id": _str(event, "id"),
            "type": _str(event, "type"),
            "time": _str(event, "time"),
            "subject": _str(event, "subject"),
            "topic": _str(event, "source"),
        }
        if "data_base64" in event:
            raise _Malformed("data_base64 is not used by resource events")
        try:
            CloudEvent.from_dict(dict(event))
        except (ValueError, TypeError, KeyError, IndexError, AttributeError) as exc:  # the SDK's time parser
            raise _Malformed(f"not a valid CloudEvent ({type(exc).__name__})") from exc
        schema = "cloudevents"
    elif "eventType" in event:
        fields = {
            "id": _str(event, "id"),
            "type": _str(event, "eventType"),
            "time": _str(event, "eventTime"),
            "subject": _str(event, "subject"),
            "topic": _str(event, "topic", required=False),
        }
        version = _str(event, "dataVersion", required=False)
        try:
            EventGridEvent.from_dict({**event, "dataVersion": version or ""})
        except (DeserializationError, ValueError, TypeError, KeyError, IndexError, AttributeError) as exc:
            raise _Malformed(f"not a valid Event Grid event ({type(exc).__name__})") from exc
        schema = "eventgrid"
    else:
        raise _Malformed("neither an Event Grid event (eventType) nor a CloudEvent (specversion)")
    data = event.get("data")
    if not isinstance(data, dict):
        raise _Malformed("data must be an object")
    for key in ("claims", "authorization"):
        if data.get(key) is not None and not isinstance(data.get(key), dict):
            raise _Malformed(f"data.{key} must be an object")
    fields["data"] = data
    fields["resource_uri"] = _str(data, "resourceUri", required=False)
    fields["subscription_id"] = _str(data, "subscriptionId", required=False)
    fields["operation_name"] = _str(data, "operationName", required=False)
    fields["correlation_id"] = _str(data, "correlationId", required=False)
    return schema, fields


def parse_event(event: object) -> Parsed:
    """One event object -> CacheChange, or IgnoredEvent saying why not. Never raises."""
    if not isinstance(event, dict):
        return IgnoredEvent(None, f"event is JSON {type(event).__name__}, not an object")
    # What an ignored event is recorded by: only id-shaped text (UK GDPR minimisation; anything may be here).
    event_id = safe_id(event.get("id"))
    subject_hint = safe_id(event.get("subject"))
    try:
        schema, f = _fields(event)
    except _Malformed as exc:
        return IgnoredEvent(event_id, f"malformed event: {exc}", subject_hint)
    data: dict[str, Any] = f["data"]
    actor = actor_of(data)
    subject: str = f["subject"]

    def ignored(reason: str) -> IgnoredEvent:
        return IgnoredEvent(safe_id(f["id"]), reason, safe_id(subject), safe_id(f["type"]), actor)

    if f["type"].lower() not in HANDLED_TYPES:
        return ignored(f"event type {safe_id(f['type']) or '(not an identifier)'} is not a resource write or delete")
    if "/providers/microsoft.cache/" not in subject.lower():
        return ignored("not a cache: subject is outside Microsoft.Cache")
    try:
        cache = cache_of(subject)
    except InvalidResourceId as exc:
        return ignored(f"not a cache we govern: {exc.general}")  # never quoting the subject (minimisation)
    if f["resource_uri"] is not None and f["resource_uri"].lower() != subject.lower():
        return ignored("inconsistent event: data.resourceUri does not match subject")
    sub = cache.subscription_id.lower()
    if f["subscription_id"] is not None and f["subscription_id"].lower() != sub:
        return ignored("inconsistent event: data.subscriptionId does not match the subject's subscription")
    if f["topic"] is not None and _subscription_of_topic(f["topic"]) != sub:
        return ignored("inconsistent event: topic/source is not the subject's subscription")
    try:
        event_time = parse_time(f["time"])
    except _Malformed as exc:
        return ignored(f"malformed event: {exc}")
    return CacheChange(
        event_id=f["id"],
        event_type=f["type"],
        event_time=event_time,
        subject=subject,
        cache=cache,
        operation_name=f["operation_name"],
        correlation_id=f["correlation_id"],
        actor=actor,
        schema=schema,
    )


__all__ = ["MAX_BODY_BYTES", "actor_of", "parse_delivery", "parse_event", "parse_message", "parse_time"]
