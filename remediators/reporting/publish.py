"""Publish the monthly assessment pack into the WORM pack container, and put what was published on the trail.

The monthly timer (`entry.triggers.on_pack_timer`) builds the pack for the London month that has just ended
from the same trail `audit verify` and `report` read, then uploads each file to
`<WARDEN_PACK_CONTAINER>/<YYYY-MM>/<file>` with the content type a browser or spreadsheet needs. Three rules:

* Never overwrite. Every upload carries `If-None-Match: *`, so a name already taken (an earlier run for the
  month, or a retry after a partial one) answers 409 `BlobAlreadyExists` and is left as it is; under a locked
  retention policy it could not be replaced anyway, and an unlocked one must not be the weaker promise.
* The trail proves what was published: one `report-published` record names the month, the container and each
  blob with its SHA-256, size, content type and whether this run uploaded it or found it already there. A
  blob found there is hashed as stored; if no earlier `report-published` record for the month vouches for
  that hash, someone else put it there (or a run died between upload and record), and an `alert` says so.
* A failure is on the trail too: building or uploading the pack failing writes an `alert` naming the month,
  the container, what was uploaded before it failed and the storage error, then re-raises so the host's
  retry policy runs the timer again (the names already uploaded are then found, not replaced).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from azure.core.exceptions import AzureError, ResourceExistsError
from azure.storage.blob import BlobServiceClient, ContainerClient, ContentSettings

from ..audit import AuditTrail
from ..audit.blob_sink import ensure_container
from ..audit.londontime import LONDON
from ..audit.reader import TrailSource, load_records, require_trail
from .pack import Pack, build_pack
from .period import Period, period

REPORT_PUBLISHED = "report-published"
CONTENT_TYPES: Mapping[str, str] = {
    ".html": "text/html; charset=utf-8",
    ".csv": "text/csv; charset=utf-8",
    ".json": "application/json",
}
UPLOADED, ALREADY_PUBLISHED, UNRECORDED = "uploaded", "already-published", "unrecorded"


@dataclass(frozen=True)
class PublishedBlob:
    name: str  # blob name inside the container, `<YYYY-MM>/<file>`
    sha256: str  # of the bytes stored under that name
    size: int
    content_type: str
    status: str  # uploaded | already-published | unrecorded

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "sha256": self.sha256, "bytes": self.size, "content_type": self.content_type,
                "status": self.status}


@dataclass(frozen=True)
class Publication:
    month: str  # MM/YYYY
    container: str
    blobs: tuple[PublishedBlob, ...]


def previous_month(now: datetime) -> Period:
    """The London calendar month before the one `now` falls in, complete (as at its end)."""
    last_day = now.astimezone(LONDON).date().replace(day=1) - timedelta(days=1)
    return period(last_day.strftime("%m/%Y"), None, now)


def content_type(file_name: str) -> str:
    suffix = file_name[file_name.rfind("."):] if "." in file_name else ""
    if suffix not in CONTENT_TYPES:
        raise ValueError(f"no content type for pack file {file_name!r}")
    return CONTENT_TYPES[suffix]


def vouched_hashes(records: Iterable[Mapping[str, Any]], month: str, container: str) -> set[tuple[str, str]]:
    """(blob name, SHA-256) pairs that earlier `report-published` records for this month and container name.
    Trail content is untrusted: anything not shaped as written is ignored, not trusted."""
    out: set[tuple[str, str]] = set()
    for record in records:
        if record.get("kind") != REPORT_PUBLISHED or record.get("report_month") != month:
            continue
        if record.get("container") != container or not isinstance(record.get("blobs"), list):
            continue
        for blob in record["blobs"]:
            if isinstance(blob, Mapping) and isinstance(blob.get("name"), str) and isinstance(blob.get("sha256"), str):
                out.add((blob["name"], blob["sha256"]))
    return out


def _stored(container: ContainerClient, name: str) -> tuple[str, int, str]:
    """SHA-256, size and content type of a blob as stored, read in chunks (a planted blob may be large)."""
    downloader = container.get_blob_client(name).download_blob()
    digest, size = hashlib.sha256(), 0
    for chunk in downloader.chunks():
        digest.update(chunk)
        size += len(chunk)
    stored_type = downloader.properties.content_settings.content_type or ""
    return digest.hexdigest(), size, stored_type


def upload_pack(pack: Pack, container: ContainerClient, prefix: str, vouched: set[tuple[str, str]],
                done: list[PublishedBlob]) -> None:
    """Upload every file under `prefix`, never replacing a blob; each result is appended to `done` as soon as
    it is known, so a caller that catches a failure can say exactly what was stored before it."""
    for file_name, data in pack.files.items():
        name, kind = f"{prefix}{file_name}", content_type(file_name)
        try:
            container.upload_blob(name, data, overwrite=False, if_none_match="*",
                                  content_settings=ContentSettings(content_type=kind))
        except ResourceExistsError as exc:
            if _code(exc) != "BlobAlreadyExists":
                raise  # another conflict (e.g. a lease): not "already there", so not something to skip
            sha, size, stored_type = _stored(container, name)
            status = ALREADY_PUBLISHED if (name, sha) in vouched else UNRECORDED
            done.append(PublishedBlob(name, sha, size, stored_type, status))
            continue
        done.append(PublishedBlob(name, hashlib.sha256(data).hexdigest(), len(data), kind, UPLOADED))


def _code(exc: Exception) -> str | None:
    """The storage error code (`x-ms-error-code`) the storage SDK puts on its exceptions, as plain text."""
    code = getattr(exc, "error_code", None)
    return str(getattr(code, "value", code)) if code else None


def _error(exc: Exception) -> dict[str, Any]:
    first = str(exc).splitlines()[0][:300] if str(exc) else ""
    return {"code": _code(exc) or type(exc).__name__, "message": first}


def publish_monthly_pack(source: TrailSource, blob_service: BlobServiceClient, container_name: str, trail: AuditTrail,
                         *, now: datetime) -> Publication:
    """Build last month's pack from `source` and publish it; returns what is now stored. Raises (after an
    `alert` record) when the pack cannot be built or stored."""
    when = previous_month(now)
    month = when.first_day.strftime("%m/%Y")
    prefix = f"{when.slug}/"
    done: list[PublishedBlob] = []
    try:
        require_trail(source)
        # Sign every chain's head first, so the pack's verify section covers every record written until now.
        trail.checkpoint()
        pack = build_pack(source, when, now=now)
        vouched = vouched_hashes(load_records(source), month, container_name)
        container = blob_service.get_container_client(container_name)
        ensure_container(container)  # infra/ creates it in Azure; Azurite starts empty
        upload_pack(pack, container, prefix, vouched, done)
    except (AzureError, ValueError) as exc:
        trail.record("alert", detail=f"the assessment pack for {month} could not be published to "
                     f"{container_name}/{prefix}; the timer will be retried", report_month=month,
                     container=container_name, blobs=[b.as_dict() for b in done], outcome=_error(exc))
        raise
    blobs = tuple(done)
    uploaded = sum(b.status == UPLOADED for b in blobs)
    trail.record(REPORT_PUBLISHED, detail=f"assessment pack for {month}: {uploaded} of {len(blobs)} file(s) "
                 f"uploaded to {container_name}/{prefix}, the others already there (never replaced)",
                 report_month=month, container=container_name, blobs=[b.as_dict() for b in blobs])
    strangers = [b.name for b in blobs if b.status == UNRECORDED]
    if strangers:
        trail.record("alert", detail=f"pack blobs for {month} were already in {container_name} but no earlier "
                     "report-published record names their SHA-256: review them before relying on the pack",
                     report_month=month, container=container_name,
                     blobs=[b.as_dict() for b in blobs if b.status == UNRECORDED])
    return Publication(month, container_name, blobs)
