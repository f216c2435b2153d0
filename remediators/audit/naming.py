"""Where records and checkpoints live: blob names and writer ids.

One append blob per writer per UTC day, rotated into numbered parts: `<writer>/<YYYY-MM-DD>/<part>.jsonl`.
Writer first, so a writer resuming its chain lists only its own blobs; the UTC day (not the local day)
because UTC never repeats or skips an hour, so the BST/GMT change cannot put one record in two days.
"""

from __future__ import annotations

import os
import re
import secrets
import socket
from dataclasses import dataclass
from datetime import UTC, datetime

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
_SEGMENT = re.compile(r"^(?P<writer>[A-Za-z0-9._-]+)/(?P<day>\d{4}-\d{2}-\d{2})/(?P<part>\d{5})\.jsonl$")
MAX_WRITER_LEN = 96


def safe_writer_id(raw: str) -> str:
    """A writer id usable as one blob-name segment; refuses ids that would become empty."""
    cleaned = _UNSAFE.sub("-", raw).strip("-.")[:MAX_WRITER_LEN]
    if not cleaned:
        raise ValueError(f"writer id {raw!r} has no usable characters")
    return cleaned


def default_writer_id() -> str:
    """Unique per process, so no two processes ever share a chain: host, pid and a random suffix (the
    pid alone repeats across Function App instances)."""
    host = socket.gethostname() or "host"
    return safe_writer_id(f"{host}-{os.getpid()}-{secrets.token_hex(4)}")


@dataclass(frozen=True, order=True)
class SegmentName:
    writer: str
    day: str  # UTC day, YYYY-MM-DD
    part: int

    @property
    def blob_name(self) -> str:
        return f"{self.writer}/{self.day}/{self.part:05d}.jsonl"

    @classmethod
    def parse(cls, name: str) -> SegmentName | None:
        match = _SEGMENT.match(name)
        if not match:
            return None
        return cls(match["writer"], match["day"], int(match["part"]))


def checkpoint_blob_name(moment: datetime, writer: str) -> str:
    utc = moment.astimezone(UTC)
    return f"{utc:%Y-%m-%d}/{utc:%H%M%S.%f}Z-{writer}.json"
