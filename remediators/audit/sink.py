"""What the trail needs from a place that stores records: append records to this writer's chain (several in
one write when they are stored together), name the head of every chain, store a checkpoint. File and blob
sinks implement it."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol

from .schema import ChainHead

MAX_RECORD_BYTES = 1024 * 1024  # far below the 4 MiB append-block limit; a record is a few KiB
MAX_APPEND_BYTES = 4 * 1024 * 1024  # Azure's append-block limit: records stored together split above it

# Builds the next record from the current head (None for a new chain). Called under the sink's lock, so
# seq and prev_hash always follow the head actually stored.
MakeRecord = Callable[[ChainHead | None], dict[str, Any]]


class AuditSinkError(RuntimeError):
    """A record could not be stored; the caller must not go on as if it had been."""


class ChainConflict(AuditSinkError):
    """Someone else wrote to this writer's chain or blob. Writers never share a chain, so this means a
    misconfiguration (two processes with one writer id) or interference: stop rather than fork the chain."""


class Sink(Protocol):
    location: str  # human-readable: "file:/path" or "blob:<container>"

    def append(self, make: MakeRecord) -> tuple[dict[str, Any], ChainHead]: ...

    def append_all(self, makes: Sequence[MakeRecord]) -> list[tuple[dict[str, Any], ChainHead]]:
        """Build each record on the head the previous one leaves, and store them in one write where the
        store allows it. A failure raises (the records of blocks already stored stay stored, in order): a
        record is never built and silently dropped."""
        ...

    def heads(self) -> list[ChainHead]: ...

    def write_checkpoint(self, doc: Mapping[str, Any], name_hint: str) -> str: ...

    def close(self) -> None: ...
