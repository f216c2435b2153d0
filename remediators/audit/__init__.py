"""Append-only, hash-chained audit trail: records, sinks, signed checkpoints, verification, export.

The engine writes through `open_trail(...)` / `AuditTrail.record(...)`; the CLI reads through the
functions in `commands`. docs/audit.md documents the record schema and the guarantees.
"""

from .schema import GENESIS, KINDS, SCHEMA_VERSION, ChainHead, RecordError
from .sink import AuditSinkError, ChainConflict
from .trail import AuditTrail, open_trail

__all__ = [
    "GENESIS",
    "KINDS",
    "SCHEMA_VERSION",
    "AuditSinkError",
    "AuditTrail",
    "ChainConflict",
    "ChainHead",
    "RecordError",
    "open_trail",
]
