"""The blob sink (default in Azure): each writer appends its own chain to its own append blobs.

One append blob per writer per UTC day (`naming.SegmentName`), rotated into a new part well before the
50,000-block limit of an append blob. Three storage rules carry the guarantees:

* A day blob is created with `If-None-Match: *`. `create_append_blob` without it silently replaces an
  existing blob with an empty one, which would erase a chain.
* Every append carries the append-position condition (`x-ms-blob-condition-appendpos` = the size we
  expect). An append whose response is lost is ambiguous: it may or may not have landed, and the SDK's
  own retry of it then fails with 412 `AppendPositionConditionNotMet` (or `MaxBlobSizeConditionNotMet`)
  if it did. Either way we read the bytes at the position we wrote to: our record there means done (no
  duplicate), an unchanged size means append again (no gap), anything else means someone else wrote
  (ChainConflict; never fork).
* Writers never share a chain, so there is no cross-instance contention to resolve: a conflict is an
  error, not a retry loop.
"""

from __future__ import annotations

import contextlib
import json
import secrets
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from azure.core.exceptions import (
    HttpResponseError,
    ResourceExistsError,
    ServiceRequestError,
    ServiceResponseError,
)
from azure.storage.blob import BlobServiceClient, ContainerClient

from .canonical import canonical_json
from .naming import SegmentName
from .schema import ChainHead
from .sink import MAX_APPEND_BYTES, MAX_RECORD_BYTES, AuditSinkError, ChainConflict, MakeRecord

DEFAULT_ROTATE_BLOCKS = 40_000  # append blobs take at most 50,000 blocks; one record is one block
DEFAULT_MAX_SEGMENT_BYTES = 256 * 1024 * 1024  # keeps a day blob quick to download and verify
APPEND_ATTEMPTS = 4
_TAIL_WINDOW = 64 * 1024
_POSITION_ERRORS = {"AppendPositionConditionNotMet", "MaxBlobSizeConditionNotMet"}


@dataclass
class _Segment:
    name: SegmentName
    size: int
    blocks: int


def ensure_container(container: ContainerClient) -> None:
    if not container.exists():
        # Created by another writer between our check and our create is what we wanted too.
        with contextlib.suppress(ResourceExistsError):
            container.create_container()


def read_tail_line(container: ContainerClient, blob: str, size: int) -> bytes | None:
    """The last complete record line of a blob of `size` bytes, read with range requests only."""
    if size == 0:
        return None
    window = _TAIL_WINDOW
    client = container.get_blob_client(blob)
    while True:
        start = max(0, size - window)
        data = client.download_blob(offset=start, length=size - start).readall()
        if not data.endswith(b"\n"):
            raise AuditSinkError(f"{blob} does not end with a complete record")
        cut = data.rfind(b"\n", 0, len(data) - 1)
        if cut >= 0:
            return data[cut + 1 : -1]
        if start == 0:
            return data[:-1]
        window *= 4


def head_from_line(line: bytes, segment: str) -> ChainHead:
    try:
        rec = json.loads(line)
        return ChainHead(str(rec["chain"]), int(rec["seq"]), str(rec["hash"]), str(rec["time"]), segment,
                         record=rec)
    except (ValueError, KeyError, TypeError) as exc:
        raise AuditSinkError(f"the last record of {segment} is unreadable ({exc}); run `audit verify`") from exc


def list_segments(container: ContainerClient, writer: str | None = None) -> dict[str, list[tuple[SegmentName, int]]]:
    """Every segment blob, grouped by writer and in chain order, with its size."""
    prefix = f"{writer}/" if writer else None
    chains: dict[str, list[tuple[SegmentName, int]]] = {}
    for props in container.list_blobs(name_starts_with=prefix):
        name = SegmentName.parse(props.name)
        if name is not None:
            chains.setdefault(name.writer, []).append((name, props.size or 0))
    for segments in chains.values():
        segments.sort()
    return chains


class BlobSink:
    def __init__(
        self,
        service: BlobServiceClient,
        *,
        container: str,
        checkpoint_container: str,
        writer_id: str,
        rotate_blocks: int = DEFAULT_ROTATE_BLOCKS,
        max_segment_bytes: int = DEFAULT_MAX_SEGMENT_BYTES,
    ) -> None:
        if not 0 < rotate_blocks <= 49_000:
            raise ValueError("rotate_blocks must leave headroom below the 50,000-block append blob limit")
        self.container = service.get_container_client(container)
        self.checkpoints = service.get_container_client(checkpoint_container)
        self.writer_id = writer_id
        self.location = f"blob:{container}"
        self.rotate_blocks = rotate_blocks
        self.max_segment_bytes = max_segment_bytes
        self._nonce = secrets.token_hex(16)  # marks blobs this process created
        self._lock = threading.Lock()
        self._segment: _Segment | None = None
        self._head: ChainHead | None = None
        self._resumed = False
        # Tails already read by earlier checkpoints, keyed by (blob, size): append blobs only grow, so an
        # unchanged size means an unchanged head and the tail need not be downloaded again.
        self._tails: dict[tuple[str, int], ChainHead] = {}

    # ------------------------------------------------------------------------------------------- writing

    def resume(self) -> ChainHead | None:
        """Find this writer's existing chain (an explicit writer id reused by a later CLI run) and link
        to its tail. A fresh, unique writer id finds nothing: one list call."""
        with self._lock:
            return self._resume()

    def _resume(self) -> ChainHead | None:
        if self._resumed:
            return self._head
        ensure_container(self.container)
        segments = list_segments(self.container, self.writer_id).get(self.writer_id, [])
        for name, size in reversed(segments):
            line = read_tail_line(self.container, name.blob_name, size)
            if line is None:
                continue
            self._head = head_from_line(line, name.blob_name)
            props = self.container.get_blob_client(name.blob_name).get_blob_properties()
            self._segment = _Segment(name, props.size, props.append_blob_committed_block_count or 0)
            break
        self._resumed = True
        return self._head

    def append(self, make: MakeRecord) -> tuple[dict[str, Any], ChainHead]:
        return self.append_all([make])[0]

    def append_all(self, makes: Sequence[MakeRecord]) -> list[tuple[dict[str, Any], ChainHead]]:
        """One append block for records stored together (issue 13: a compliant event's four records were
        four appends), split only where a block would pass `MAX_APPEND_BYTES` or the UTC day (the segment)
        changes. Each block is appended like a single record: position condition, ambiguity read back."""
        if not makes:
            return []
        with self._lock:
            head = self._resume()
            out: list[tuple[dict[str, Any], ChainHead]] = []
            block: list[tuple[dict[str, Any], bytes]] = []
            block_bytes = 0
            for make in makes:
                record = make(head)
                if record["chain"] != self.writer_id:
                    raise AuditSinkError(f"record built for chain {record['chain']!r}, this writer is "
                                         f"{self.writer_id!r}")
                data = canonical_json(record) + b"\n"
                if len(data) > MAX_RECORD_BYTES:
                    raise AuditSinkError(f"audit record of {len(data)} bytes exceeds {MAX_RECORD_BYTES}")
                if block and (record["time"][:10] != block[0][0]["time"][:10]
                              or block_bytes + len(data) > MAX_APPEND_BYTES):
                    out += self._append_block(block)
                    block, block_bytes = [], 0
                block.append((record, data))
                block_bytes += len(data)
                head = ChainHead(record["chain"], record["seq"], record["hash"], record["time"], "")
            out += self._append_block(block)
            return out

    def _append_block(self, block: list[tuple[dict[str, Any], bytes]]) -> list[tuple[dict[str, Any], ChainHead]]:
        """Records of one UTC day appended as one block; their heads name the segment it went to."""
        data = b"".join(d for _, d in block)
        segment = self._segment_for(block[0][0]["time"][:10], len(data))
        self._append(segment, data)
        stored = [(r, ChainHead(r["chain"], r["seq"], r["hash"], r["time"], segment.name.blob_name)) for r, _ in block]
        self._head = stored[-1][1]  # at once: a later block that fails must not leave the chain behind this one
        return stored

    def _segment_for(self, day: str, length: int) -> _Segment:
        current = self._segment
        if (
            current is not None
            and current.name.day == day
            and current.blocks < self.rotate_blocks
            and current.size + length <= self.max_segment_bytes
        ):
            return current
        if current is not None and current.name.day > day:
            raise AuditSinkError(f"record day {day} is before the current segment {current.name.blob_name}")
        part = current.name.part + 1 if current is not None and current.name.day == day else 0
        name = SegmentName(self.writer_id, day, part)
        self._create(name)
        self._segment = _Segment(name, 0, 0)
        return self._segment

    def _create(self, name: SegmentName) -> None:
        blob = self.container.get_blob_client(name.blob_name)
        try:
            blob.create_append_blob(
                if_none_match="*", metadata={"writer": self.writer_id, "nonce": self._nonce}
            )
        except ResourceExistsError as exc:
            # Our own create whose response was lost and which the SDK retried lands here too: the blob
            # then carries our nonce and is still empty.
            props = blob.get_blob_properties()
            if props.metadata.get("nonce") == self._nonce and not props.size:
                return
            raise ChainConflict(
                f"{name.blob_name} already exists and was not created by this writer; it is left untouched"
            ) from exc

    def _append(self, segment: _Segment, data: bytes) -> None:
        blob = self.container.get_blob_client(segment.name.blob_name)
        position = segment.size
        for _attempt in range(APPEND_ATTEMPTS):
            try:
                result = blob.append_block(
                    data, length=len(data), appendpos_condition=position,
                    maxsize_condition=self.max_segment_bytes,
                )
            except HttpResponseError as exc:
                if exc.status_code != 412 or exc.error_code not in _POSITION_ERRORS:
                    raise
                landed = self._landed(blob, position, data, str(exc.error_code))
            except (ServiceResponseError, ServiceRequestError):
                # The request may or may not have reached storage: look before trying again.
                landed = self._landed(blob, position, data, "no response")
            else:
                segment.size = position + len(data)
                segment.blocks = int(result.get("blob_committed_block_count") or segment.blocks + 1)
                return
            if landed is not None:
                segment.size, segment.blocks = landed
                return
        raise AuditSinkError(f"could not append to {segment.name.blob_name} after {APPEND_ATTEMPTS} attempts")

    def _landed(self, blob: Any, position: int, data: bytes, why: str) -> tuple[int, int] | None:
        """(size, blocks) when our record is already at `position`; None when nothing is there yet."""
        props = blob.get_blob_properties()
        size = props.size
        if size == position:
            return None
        if size >= position + len(data):
            stored = blob.download_blob(offset=position, length=len(data)).readall()
            if stored == data:
                return position + len(data), props.append_blob_committed_block_count or 0
        raise ChainConflict(
            f"{blob.blob_name}: expected our record at byte {position} ({why}) but the blob holds "
            f"{size} bytes written by someone else; refusing to fork the chain"
        )

    # ------------------------------------------------------------------------------------------- heads

    def heads(self) -> list[ChainHead]:
        """The last record of every chain in the container, from the tail of its last non-empty blob."""
        ensure_container(self.container)
        out = []
        seen: dict[tuple[str, int], ChainHead] = {}
        for segments in list_segments(self.container).values():
            for name, size in reversed(segments):
                key = (name.blob_name, size)
                head = self._tails.get(key)
                if head is None:
                    line = read_tail_line(self.container, name.blob_name, size)
                    if line is None:
                        continue
                    head = head_from_line(line, name.blob_name)
                seen[key] = head
                out.append(head)
                break
        self._tails = seen
        return out

    def write_checkpoint(self, doc: Mapping[str, Any], name_hint: str) -> str:
        ensure_container(self.checkpoints)
        self.checkpoints.upload_blob(name_hint, canonical_json(dict(doc)), overwrite=False)
        return f"{self.checkpoints.container_name}/{name_hint}"

    def close(self) -> None:
        """Clients are owned by the caller; nothing to release."""
