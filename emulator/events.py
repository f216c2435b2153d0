"""Event Grid delivery of ARM write/delete notifications into a Storage queue.

Shapes follow `reference/events/*.json` (subscription system-topic events) in the Event Grid schema, or
CloudEvents 1.0 when a server is configured so. Delivery is what Event Grid's storage-queue handler does:
one event per queue message, the event's JSON object base64-encoded. `exclude_appids` plays the event
subscription's advanced filter on `data.claims.appid`.
"""

from __future__ import annotations

import contextlib
import json
import threading
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from azure.core.exceptions import AzureError, ResourceExistsError
from azure.storage.queue import BinaryBase64EncodePolicy, QueueClient

from .calls import WriteEvent
from .principals import OID_CLAIM, UPN_CLAIM

SCHEMAS = ("eventgrid", "cloudevents")
# Token claims ARM copies into `data.claims`, renamed where ARM uses claim URIs.
_CLAIM_NAMES = {"oid": OID_CLAIM, "upn": UPN_CLAIM}
_CLAIMS_KEPT = ("aud", "iss", "appidacr", "appid", "oid", "ver", "idtyp", "xms_mirid", "upn", "name")


@dataclass(frozen=True)
class RequestContext:
    method: str
    url: str
    correlation_id: str
    client_request_id: str
    client_ip: str


def event_claims(token_claims: Mapping[str, Any]) -> dict[str, Any]:
    """`data.claims` as ARM writes it: a user's upn/objectidentifier as claim URIs; `idtyp` and
    `xms_mirid` only when the token carries them (managed identities). `idtyp: user` is not copied,
    matching the published samples."""
    out: dict[str, Any] = {}
    for key in _CLAIMS_KEPT:
        if key not in token_claims:
            continue
        if key == "idtyp" and token_claims[key] != "app":
            continue
        out[_CLAIM_NAMES.get(key, key)] = token_claims[key]
    return out


def _event_time(now: datetime) -> str:
    return now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond:06d}0Z"


def build_event(
    write: WriteEvent,
    token_claims: Mapping[str, Any],
    request: RequestContext,
    *,
    subscription_id: str,
    tenant_id: str,
    role: str,
    principal_type: str,
    schema: str = "eventgrid",
    now: datetime | None = None,
) -> dict[str, Any]:
    now = now or datetime.now(UTC)
    event_type = (
        "Microsoft.Resources.ResourceDeleteSuccess" if write.delete else "Microsoft.Resources.ResourceWriteSuccess"
    )
    data = {
        "authorization": {
            "scope": write.subject,
            "action": write.operation_name,
            "evidence": {"role": role, "principalType": principal_type},
        },
        "claims": event_claims(token_claims),
        "correlationId": request.correlation_id,
        "httpRequest": {
            "clientRequestId": request.client_request_id,
            "clientIpAddress": request.client_ip,
            "method": request.method,
            "url": request.url,
        },
        "resourceProvider": "Microsoft.Cache",
        "resourceUri": write.subject,
        "operationName": write.operation_name,
        "status": "Succeeded",
        "subscriptionId": subscription_id,
        "tenantId": tenant_id,
    }
    topic = f"/subscriptions/{subscription_id}"
    if schema == "cloudevents":
        return {
            "subject": write.subject,
            "source": topic,
            "type": event_type,
            "time": _event_time(now),
            "id": str(uuid.uuid4()),
            "data": data,
            "specversion": "1.0",
        }
    return {
        "subject": write.subject,
        "eventType": event_type,
        "eventTime": _event_time(now),
        "id": str(uuid.uuid4()),
        "data": data,
        "dataVersion": "2",
        "metadataVersion": "1",
        "topic": topic,
    }


class EventPublisher:
    """Keeps every delivered event in memory and, with a connection string, writes it to the queue.

    A failed queue write does not undo the ARM write (Event Grid would retry, then dead-letter): it is
    recorded in `failures` so a test can see it.
    """

    def __init__(
        self,
        queue_connection_string: str | None = None,
        queue_name: str = "warden-events",
        *,
        schema: str = "eventgrid",
        exclude_appids: Iterable[str] = (),
    ) -> None:
        if schema not in SCHEMAS:
            raise ValueError(f"event schema must be one of {SCHEMAS}, not {schema!r}")
        self.schema = schema
        self.exclude_appids = frozenset(a.lower() for a in exclude_appids)
        self._lock = threading.Lock()
        self._delivered: list[dict[str, Any]] = []
        self.failures: list[str] = []
        self._queue: QueueClient | None = None
        if queue_connection_string:
            self._queue = QueueClient.from_connection_string(
                queue_connection_string, queue_name, message_encode_policy=BinaryBase64EncodePolicy()
            )
            with contextlib.suppress(ResourceExistsError):
                self._queue.create_queue()

    def excluded(self, token_claims: Mapping[str, Any]) -> bool:
        return str(token_claims.get("appid", "")).lower() in self.exclude_appids

    def publish(self, event: Mapping[str, Any]) -> None:
        with self._lock:
            self._delivered.append(dict(event))
            if self._queue is None:
                return
            try:
                self._queue.send_message(json.dumps(event).encode("utf-8"))
            except AzureError as exc:
                self.failures.append(f"{event.get('id')}: {exc}")

    def delivered(self) -> list[dict[str, Any]]:
        with self._lock:
            return [dict(e) for e in self._delivered]

    def close(self) -> None:
        if self._queue is not None:
            self._queue.close()
