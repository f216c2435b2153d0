"""The reading side: load what a sink stored, from a file or a blob container, without trusting it.

Nothing here checks hashes; `verify` does. Export, show and report read the same segments, so every
command sees exactly the bytes a verifier would.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from azure.core.exceptions import AzureError, ResourceNotFoundError

from .blob_sink import list_segments
from .file_sink import checkpoint_path


@dataclass(frozen=True)
class Segment:
    """One stored unit of a chain: a day blob (part) or the whole audit file."""

    name: str
    chain_key: str  # the writer from the blob name; for a file, the file name (one chain per file)
    day: str | None  # the UTC day a blob is for; None for a file
    data: bytes


@dataclass(frozen=True)
class Line:
    segment: Segment
    number: int  # 1-based line number within the segment
    raw: bytes
    record: dict[str, Any] | None
    error: str | None = None
    torn: bool = False  # a partial last line: the tail was cut or a write was interrupted

    @property
    def location(self) -> str:
        return f"{self.segment.name} line {self.number}"


@dataclass(frozen=True)
class StoredCheckpoint:
    location: str
    data: bytes


class TrailUnavailable(ValueError):
    """The trail cannot be read at all (missing, a directory, unreadable, or holding nothing): a user error
    the CLI reports in one line and exits non-zero on, never "OK, 0 records"."""


class TrailSource(Protocol):
    description: str

    def segments(self) -> list[Segment]: ...

    def checkpoints(self) -> list[StoredCheckpoint]: ...


class FileSource:
    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.description = f"file {self.path}"

    def segments(self) -> list[Segment]:
        """A missing file is no segment (its checkpoints may still say a chain is gone); a directory or an
        unreadable file is `TrailUnavailable`."""
        data = _read_file(self.path, "audit file")
        return [] if data is None else [Segment(self.path.name, self.path.name, None, data)]

    def checkpoints(self) -> list[StoredCheckpoint]:
        path = checkpoint_path(self.path)
        data = _read_file(path, "checkpoint file")
        if data is None:
            return []
        return [
            StoredCheckpoint(f"{path.name} line {n}", line)
            for n, line in enumerate(data.splitlines(), start=1)
            if line.strip()
        ]


def _read_file(path: Path, what: str) -> bytes | None:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return None
    except IsADirectoryError:
        raise TrailUnavailable(f"{what} {path} is a directory; give the JSON-lines audit file itself") from None
    except OSError as exc:
        raise TrailUnavailable(f"cannot read {what} {path}: {exc.strerror or exc}") from None


class BlobSource:
    def __init__(
        self, service: Any, *, container: str = "audit", checkpoint_container: str = "audit-checkpoints"
    ) -> None:
        self.container = service.get_container_client(container)
        self.checkpoint_container = service.get_container_client(checkpoint_container)
        self.description = f"blob container {container}"
        self._segments: list[Segment] | None = None  # read once per command: require_trail, then the command

    def segments(self) -> list[Segment]:
        if self._segments is not None:
            return self._segments
        try:
            chains = list_segments(self.container)
            out = []
            for writer in sorted(chains):
                for name, _size in chains[writer]:
                    data = self.container.get_blob_client(name.blob_name).download_blob().readall()
                    out.append(Segment(name.blob_name, writer, name.day, data))
        except ResourceNotFoundError:
            out = []
        except AzureError as exc:
            raise TrailUnavailable(f"cannot read {self.description}: {exc.__class__.__name__}: "
                                   f"{str(exc).splitlines()[0] if str(exc) else ''}") from None
        self._segments = out
        return out

    def checkpoints(self) -> list[StoredCheckpoint]:
        try:
            names = sorted(b.name for b in self.checkpoint_container.list_blobs())
            return [
                StoredCheckpoint(f"{self.checkpoint_container.container_name}/{n}",
                                 self.checkpoint_container.get_blob_client(n).download_blob().readall())
                for n in names
            ]
        except ResourceNotFoundError:
            return []
        except AzureError as exc:
            raise TrailUnavailable(f"cannot read blob container {self.checkpoint_container.container_name}: "
                                   f"{exc.__class__.__name__}") from None


def open_source(
    *, file: str | None = None, blob_service: Any = None, container: str = "audit",
    checkpoint_container: str = "audit-checkpoints",
) -> TrailSource:
    """`--file` wins; otherwise the blob containers the app writes to."""
    if file:
        return FileSource(file)
    if blob_service is None:
        raise ValueError("give --file or configure storage (AzureWebJobsStorage) to read the audit trail")
    return BlobSource(blob_service, container=container, checkpoint_container=checkpoint_container)


def require_trail(source: TrailSource) -> None:
    """Refuse a source with no records and no checkpoints: a wrong path or an empty container must not
    verify as "OK" or report an empty, clean posture. (Checkpoints without records are left to `verify`,
    which reports the chains they list as truncated.)"""
    if any(seg.data.strip() for seg in source.segments()):
        return
    if source.checkpoints():
        return
    raise TrailUnavailable(f"no audit records in {source.description} (missing or empty): check --file or the "
                           "storage settings")


def lines(segment: Segment) -> Iterator[Line]:
    """Every line of a segment, parsed where possible; a trailing partial line is reported, not dropped."""
    body = segment.data
    parts = body.split(b"\n")
    if parts and parts[-1] == b"":
        parts.pop()
    for number, raw in enumerate(parts, start=1):
        if number == len(parts) and not body.endswith(b"\n"):
            yield Line(segment, number, raw, None, "the last record was cut short (no newline)", torn=True)
            continue
        try:
            record = json.loads(raw)
        except ValueError as exc:
            yield Line(segment, number, raw, None, f"not valid JSON ({exc.__class__.__name__})")
            continue
        if not isinstance(record, dict):
            yield Line(segment, number, raw, None, "not a JSON object")
        else:
            yield Line(segment, number, raw, record)


def load_records(source: TrailSource) -> list[dict[str, Any]]:
    """Every readable record, in time order (ties by chain and seq). For review, not for trust."""
    records = [ln.record for seg in source.segments() for ln in lines(seg) if ln.record is not None]
    return sorted(records, key=lambda r: (str(r.get("time", "")), str(r.get("chain", "")), _seq(r)))


def _seq(record: dict[str, Any]) -> int:
    seq = record.get("seq")
    return seq if isinstance(seq, int) else -1
