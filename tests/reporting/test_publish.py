"""The monthly timer's publication of the pack, against Azurite (the real Blob protocol): names and content
types, never overwriting (a second run, a blob planted before ours), the `report-published` record matching the
stored bytes, and a failure that is audited and raised."""

from __future__ import annotations

import hashlib
import io
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from azure.core.exceptions import HttpResponseError
from azure.storage.blob import AccountSasPermissions, BlobServiceClient, ResourceTypes, generate_account_sas

from devhost.azurite import ACCOUNT, ACCOUNT_KEY, Azurite
from remediators.audit import AuditTrail, RecordError, open_trail
from remediators.audit.reader import BlobSource, TrailUnavailable, load_records
from remediators.audit.signing import PemSigner, fingerprint
from remediators.audit.verify import run_verify
from remediators.reporting.publish import previous_month, publish_monthly_pack
from tests.audit.conftest import write_key

from .conftest import ORDERS, SESSIONS, Clock

PUBLISH_AT = datetime(2026, 12, 1, 1, 30, tzinfo=UTC)  # the timer's schedule: 01:30 UTC on the 1st
FILES = {
    "2026-11/redis-warden-assessment-2026-11.html": "text/html; charset=utf-8",
    "2026-11/findings-2026-11.csv": "text/csv; charset=utf-8",
    "2026-11/caches-2026-11.csv": "text/csv; charset=utf-8",
    "2026-11/findings-2026-11.ocsf.json": "application/json",
}


class World:
    """A blob trail in Azurite with some of November in it, and the names of its three containers."""

    def __init__(self, service: BlobServiceClient, key: Path, suffix: str) -> None:
        self.service, self.key = service, key
        self.audit, self.checkpoints, self.packs = f"audit-{suffix}", f"ckpt-{suffix}", f"packs-{suffix}"
        self.clock = Clock()

    def trail(self, writer: str) -> AuditTrail:
        return open_trail(audit_file=None, blob_service=self.service, container=self.audit,
                          checkpoint_container=self.checkpoints, signing_key=str(self.key), writer_id=writer,
                          baseline_hash="b" * 64, our_identity={"oid": "warden-oid", "appid": "warden-app"},
                          clock=self.clock)

    def source(self) -> BlobSource:
        return BlobSource(self.service, container=self.audit, checkpoint_container=self.checkpoints)

    def publish(self, writer: str, now: datetime = PUBLISH_AT, service: BlobServiceClient | None = None) -> Any:
        self.clock.now = now
        trail = self.trail(writer)
        try:
            return publish_monthly_pack(self.source(), service or self.service, self.packs, trail, now=now)
        finally:
            trail.close()

    def records(self, kind: str) -> list[dict[str, Any]]:
        return [r for r in load_records(self.source()) if r.get("kind") == kind]

    def stored(self) -> dict[str, tuple[bytes, str, str]]:
        """name -> (bytes, content type, etag) of every blob in the pack container."""
        container = self.service.get_container_client(self.packs)
        out = {}
        for blob in container.list_blobs():
            data = container.download_blob(blob.name).readall()
            out[blob.name] = (data, blob.content_settings.content_type, blob.etag)
        return out


@pytest.fixture
def world(azurite: Azurite, tmp_path: Path) -> Iterator[World]:
    service = BlobServiceClient.from_connection_string(azurite.connection_string)
    w = World(service, write_key(tmp_path / "signing.pem"), uuid.uuid4().hex[:12])
    t = w.trail("instance-a")
    for day in (3, 4, 5):
        w.clock.at(day, 2)
        t.record("evaluated", cache_id=ORDERS, statuses={"tls-min-version": "compliant"}, location="uksouth")
        t.record("detected", cache_id=SESSIONS, rule="firewall", severity="critical", finding_status="non_compliant")
    t.checkpoint()
    t.close()
    yield w
    for name in (w.audit, w.checkpoints, w.packs):
        client = service.get_container_client(name)
        if client.exists():
            client.delete_container()


def test_the_pack_lands_under_the_month_with_its_content_types_and_the_record_names_its_hashes(
    world: World,
) -> None:
    publication = world.publish("instance-b")
    stored = world.stored()
    assert {name: kind for name, (_, kind, _) in stored.items()} == FILES
    html = stored["2026-11/redis-warden-assessment-2026-11.html"][0].decode("utf-8")
    assert "November 2026" in html and "orders-cache" in html
    assert stored["2026-11/findings-2026-11.csv"][0].startswith("\ufeff".encode())  # Excel's BOM kept

    [record] = world.records("report-published")
    assert (record["report_month"], record["container"]) == ("11/2026", world.packs)
    assert {b["name"]: (b["sha256"], b["bytes"], b["content_type"], b["status"]) for b in record["blobs"]} == {
        name: (hashlib.sha256(data).hexdigest(), len(data), kind, "uploaded")
        for name, (data, kind, _) in stored.items()}
    assert [b.as_dict() for b in publication.blobs] == record["blobs"]
    assert not world.records("alert")
    # The record is an ordinary signed record of the trail: verify accepts it, pinned to the signing key.
    out = io.StringIO()
    pinned = fingerprint(PemSigner.from_file(world.key).public_key_der)
    assert run_verify(world.source(), [pinned], out, now=PUBLISH_AT + timedelta(minutes=1)) == 0, out.getvalue()


def test_a_second_run_for_the_month_replaces_nothing_and_says_so(world: World) -> None:
    world.publish("instance-b")
    first = world.stored()
    # Another instance, an hour later (a retry, or the admin endpoint): its pack bytes differ (generation time).
    world.publish("instance-c", now=PUBLISH_AT + timedelta(hours=1))
    assert world.stored() == first  # same bytes, same etags: nothing was rewritten
    earlier, later = world.records("report-published")
    assert {b["status"] for b in later["blobs"]} == {"already-published"}
    assert [(b["name"], b["sha256"]) for b in later["blobs"]] == [(b["name"], b["sha256"]) for b in earlier["blobs"]]
    assert not world.records("alert")


def test_a_blob_planted_before_ours_is_kept_as_it_is_and_raises_an_alert(world: World) -> None:
    planted = b"cache,state\norders-cache,compliant\n"
    container = world.service.get_container_client(world.packs)
    container.create_container()
    container.upload_blob("2026-11/findings-2026-11.csv", planted)
    world.publish("instance-b")
    stored = world.stored()
    assert stored["2026-11/findings-2026-11.csv"][0] == planted  # never overwritten, not even a stranger's
    [record] = world.records("report-published")
    statuses = {b["name"]: b["status"] for b in record["blobs"]}
    assert statuses.pop("2026-11/findings-2026-11.csv") == "unrecorded"
    assert set(statuses.values()) == {"uploaded"}
    [alert] = world.records("alert")
    assert alert["report_month"] == "11/2026"
    assert alert["blobs"] == [b for b in record["blobs"] if b["status"] == "unrecorded"]
    assert alert["blobs"][0]["sha256"] == hashlib.sha256(planted).hexdigest()


def test_a_failed_upload_is_audited_then_raised_for_the_host_to_retry(world: World, azurite: Azurite) -> None:
    """A credential that may read but not write (as a missing role assignment would leave it): Azurite
    answers 403, the trail gets an `alert` naming the month and the error, and the timer raises."""
    world.service.get_container_client(world.packs).create_container()
    sas = generate_account_sas(ACCOUNT, ACCOUNT_KEY, ResourceTypes(container=True, object=True),
                               AccountSasPermissions(read=True, list=True),
                               expiry=datetime.now(UTC) + timedelta(hours=1))
    read_only = BlobServiceClient(world.service.url, credential=sas)
    with pytest.raises(HttpResponseError) as failure:
        world.publish("instance-b", service=read_only)
    assert failure.value.status_code == 403
    assert world.stored() == {}
    assert not world.records("report-published")
    [alert] = world.records("alert")
    assert (alert["report_month"], alert["container"], alert["blobs"]) == ("11/2026", world.packs, [])
    assert alert["outcome"]["code"] == failure.value.error_code
    assert "could not be published" in alert["detail"]


def test_an_empty_trail_is_audited_and_raised_not_published_as_a_clean_month(world: World) -> None:
    world.audit, world.checkpoints = f"{world.audit}-empty", f"{world.checkpoints}-empty"
    try:
        with pytest.raises(TrailUnavailable):
            world.publish("instance-b")
        [alert] = world.records("alert")  # the alert itself is the first record of the new trail
        assert alert["outcome"]["code"] == "TrailUnavailable"
        assert not world.service.get_container_client(world.packs).exists()
    finally:
        for name in (world.audit, world.checkpoints):
            client = world.service.get_container_client(name)
            if client.exists():
                client.delete_container()


@pytest.mark.parametrize(("now", "month"), [
    (datetime(2026, 12, 1, 1, 30, tzinfo=UTC), "11/2026"),
    (datetime(2027, 1, 1, 1, 30, tzinfo=UTC), "12/2026"),  # across a year
    (datetime(2026, 4, 1, 1, 30, tzinfo=UTC), "03/2026"),  # in BST: 02:30 London, March ended 23:00 UTC
    (datetime(2026, 3, 31, 23, 30, tzinfo=UTC), "03/2026"),  # 00:30 BST on 1 April: London is in April
    (datetime(2026, 11, 1, 0, 30, tzinfo=UTC), "10/2026"),  # GMT again (BST ended 25 October)
    (datetime(2026, 12, 3, 14, 0, tzinfo=UTC), "11/2026"),  # a late retry or a run by hand
])
def test_the_month_published_is_the_london_month_before_now(now: datetime, month: str) -> None:
    when = previous_month(now)
    assert when.first_day.strftime("%m/%Y") == month
    assert when.as_at == when.end <= now  # the whole month, ended


def test_a_report_published_record_must_name_month_container_and_blobs(tmp_path: Path) -> None:
    t = open_trail(audit_file=str(tmp_path / "a.jsonl"), signing_key=None, baseline_hash="b" * 64,
                   our_identity=None)
    with pytest.raises(RecordError):
        t.record("report-published", report_month="11/2026", container="audit-packs")
    t.record("report-published", report_month="11/2026", container="audit-packs", blobs=[])
    t.close()
