"""The file sink (WARDEN_AUDIT_FILE): JSON lines, one chain per file, for the CLI and offline review.

Several CLI processes may share one file, one after another or at once, so every append takes an exclusive
`flock`, re-reads the stored tail and links to it: the chain stays linear whoever writes. Records are
written with one `write` on an O_APPEND descriptor and fsynced before `record()` returns. Checkpoints go
beside the file, in `<file>.checkpoints.jsonl`.
"""

from __future__ import annotations

import fcntl
import json
import os
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from .canonical import canonical_json
from .schema import ChainHead
from .sink import MAX_RECORD_BYTES, AuditSinkError, MakeRecord

_TAIL_CHUNK = 64 * 1024


def checkpoint_path(audit_file: str | Path) -> Path:
    return Path(f"{audit_file}.checkpoints.jsonl")


def last_line(fd: int, size: int) -> bytes | None:
    """The last complete line of a file open for reading, without reading the whole file."""
    if size == 0:
        return None
    window = _TAIL_CHUNK
    while True:
        start = max(0, size - window)
        data = os.pread(fd, size - start, start)
        if not data.endswith(b"\n"):
            raise AuditSinkError("the audit file ends with a partial record; run `audit verify` before writing")
        cut = data.rfind(b"\n", 0, len(data) - 1)
        if cut >= 0:
            return data[cut + 1 : -1]
        if start == 0:
            return data[:-1]
        window *= 4


def first_line(fd: int, size: int) -> bytes | None:
    if size == 0:
        return None
    data = os.pread(fd, min(size, _TAIL_CHUNK), 0)
    cut = data.find(b"\n")
    while cut < 0 and len(data) < size:
        data = os.pread(fd, min(size, len(data) * 4), 0)
        cut = data.find(b"\n")
    return data[:cut] if cut >= 0 else data


def _head(line: bytes, chain: str, segment: str) -> ChainHead:
    try:
        rec = json.loads(line)
        return ChainHead(chain=chain, seq=int(rec["seq"]), hash=str(rec["hash"]), time=str(rec["time"]),
                         segment=segment, record=rec)
    except (ValueError, KeyError, TypeError) as exc:
        raise AuditSinkError(f"the last record of the audit file is unreadable ({exc}); run `audit verify`") from exc


class FileSink:
    def __init__(self, path: str | Path, writer_id: str) -> None:
        self.path = Path(path)
        self.writer_id = writer_id
        self.location = f"file:{self.path}"
        self._lock = threading.Lock()
        self.path.parent.mkdir(parents=True, exist_ok=True)

    @contextmanager
    def _locked(self) -> Iterator[int]:
        with self._lock:
            fd = os.open(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o640)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
                yield fd
            finally:
                os.close(fd)  # closing releases the flock

    def _chain_and_head(self, fd: int) -> tuple[str, ChainHead | None]:
        size = os.fstat(fd).st_size
        first = first_line(fd, size)
        if first is None:
            return self.writer_id, None
        try:
            chain = str(json.loads(first)["chain"])
        except (ValueError, KeyError, TypeError) as exc:
            raise AuditSinkError(f"the first record of {self.path} is unreadable; run `audit verify`") from exc
        line = last_line(fd, size)
        return chain, (_head(line, chain, self.path.name) if line is not None else None)

    def append(self, make: MakeRecord) -> tuple[dict[str, Any], ChainHead]:
        return self.append_all([make])[0]

    def append_all(self, makes: Sequence[MakeRecord]) -> list[tuple[dict[str, Any], ChainHead]]:
        """Every record under one flock, in one write and one fsync."""
        if not makes:
            return []
        with self._locked() as fd:
            chain, head = self._chain_and_head(fd)
            out: list[tuple[dict[str, Any], ChainHead]] = []
            data = b""
            for make in makes:
                record = make(head)
                if record["chain"] != chain:
                    raise AuditSinkError(f"record built for chain {record['chain']!r}, the file holds {chain!r}")
                line = canonical_json(record) + b"\n"
                if len(line) > MAX_RECORD_BYTES:
                    raise AuditSinkError(f"audit record of {len(line)} bytes exceeds {MAX_RECORD_BYTES}")
                data += line
                head = ChainHead(record["chain"], record["seq"], record["hash"], record["time"], self.path.name)
                out.append((record, head))
            written = os.write(fd, data)
            if written != len(data):
                raise AuditSinkError(f"short write to {self.path}: {written} of {len(data)} bytes")
            os.fsync(fd)
        return out

    def chain_id(self) -> str:
        """The chain this file holds: fixed by its first record, so every later writer joins it."""
        with self._locked() as fd:
            return self._chain_and_head(fd)[0]

    def heads(self) -> list[ChainHead]:
        with self._locked() as fd:
            _, head = self._chain_and_head(fd)
        return [head] if head is not None else []

    def write_checkpoint(self, doc: Mapping[str, Any], name_hint: str) -> str:
        path = checkpoint_path(self.path)
        data = canonical_json(dict(doc)) + b"\n"
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            os.write(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)
        return f"{path}:{name_hint}"

    def close(self) -> None:
        """Nothing is held open between records."""
