"""One factory for Storage clients (queues, blobs, tables), from a connection string or from the
identity-based `AzureWebJobsStorage__*` settings plus a credential.

Queue clients always use base64 message encoding: Event Grid's storage-queue handler writes base64, `host.json`
sets `extensions.queues.messageEncoding` to `base64`, and everything redis-warden enqueues must match or the
Functions host would fail to decode it and poison the message.
"""

from __future__ import annotations

from functools import cached_property
from typing import Any

from azure.core.credentials import TokenCredential
from azure.data.tables import TableClient, TableServiceClient
from azure.storage.blob import BlobServiceClient
from azure.storage.queue import (
    BinaryBase64DecodePolicy,
    BinaryBase64EncodePolicy,
    QueueClient,
    QueueServiceClient,
)

from ..settings import StorageSettings
from ..transport import StartupEnvTransport

# Storage calls must never hang a worker: bounded connect/read timeouts on every client.
_TIMEOUTS = {"connection_timeout": 10, "read_timeout": 30}


def _client_options() -> dict[str, Any]:
    """Timeouts plus a transport that reads the environment (CA bundle, proxies) once, not per request."""
    return {**_TIMEOUTS, "transport": StartupEnvTransport(**_TIMEOUTS)}


class StorageClients:
    """Storage clients built once per process and shared; the SDK clients are thread-safe."""

    def __init__(self, settings: StorageSettings, credential: TokenCredential | None = None) -> None:
        if settings.identity_based and credential is None:
            raise ValueError("identity-based storage settings need a credential")
        self._settings = settings
        self._credential = credential

    @cached_property
    def blob_service(self) -> BlobServiceClient:
        s = self._settings
        if s.connection_string:
            return BlobServiceClient.from_connection_string(s.connection_string, **_client_options())
        return BlobServiceClient(s.blob_service_uri, credential=self._credential, **_client_options())

    @cached_property
    def queue_service(self) -> QueueServiceClient:
        s = self._settings
        if s.connection_string:
            return QueueServiceClient.from_connection_string(s.connection_string, **_client_options())
        return QueueServiceClient(s.queue_service_uri, credential=self._credential, **_client_options())

    @cached_property
    def table_service(self) -> TableServiceClient:
        s = self._settings
        if s.connection_string:
            return TableServiceClient.from_connection_string(s.connection_string, **_client_options())
        return TableServiceClient(s.table_service_uri, credential=self._credential, **_client_options())

    def queue(self, name: str) -> QueueClient:
        """A queue client that writes and reads messages base64-encoded, like the Functions host."""
        s = self._settings
        policies = {
            "message_encode_policy": BinaryBase64EncodePolicy(),
            "message_decode_policy": BinaryBase64DecodePolicy(),
        }
        if s.connection_string:
            return QueueClient.from_connection_string(s.connection_string, name, **policies, **_client_options())
        return QueueClient(s.queue_service_uri, name, credential=self._credential, **policies, **_client_options())

    def table(self, name: str) -> TableClient:
        return self.table_service.get_table_client(name)


def send_text(queue: QueueClient, text: str, *, visibility_timeout: int | None = None) -> None:
    """Enqueue UTF-8 text with the base64 encoding the host expects (the client is built by `queue()`)."""
    queue.send_message(text.encode("utf-8"), visibility_timeout=visibility_timeout)
