"""The blob sink on Azurite: per-writer append blobs, create-if-absent, append-position, rotation, days."""

from __future__ import annotations

import io
import json
import multiprocessing
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from azure.core.exceptions import ResourceExistsError, ServiceRequestError, ServiceResponseError
from azure.core.pipeline.transport import HttpRequest, HttpResponse, RequestsTransport
from azure.storage.blob import BlobServiceClient, LinearRetry

from devhost.azurite import Azurite
from remediators.audit import AuditTrail, ChainConflict, open_trail
from remediators.audit.blob_sink import BlobSink
from remediators.audit.reader import BlobSource
from remediators.audit.signing import PemSigner, fingerprint
from remediators.audit.verify import run_verify

from .conftest import BASELINE, CACHE, IDENTITY, Clock


def blob_trail(service: BlobServiceClient, containers: tuple[str, str], **kw: Any) -> AuditTrail:
    kw.setdefault("signing_key", None)
    return open_trail(audit_file=None, blob_service=service, container=containers[0],
                      checkpoint_container=containers[1], baseline_hash=BASELINE, our_identity=IDENTITY, **kw)


def chain_records(service: BlobServiceClient, container: str) -> dict[str, list[dict]]:
    client = service.get_container_client(container)
    out: dict[str, list[dict]] = {}
    for blob in sorted(b.name for b in client.list_blobs()):
        for line in client.download_blob(blob).readall().splitlines():
            rec = json.loads(line)
            out.setdefault(rec["chain"], []).append(rec)
    return out


def verify(service: BlobServiceClient, containers: tuple[str, str], fps: list[str] | None = None,
           now: datetime | None = None) -> tuple[int, str]:
    out = io.StringIO()
    code = run_verify(BlobSource(service, container=containers[0], checkpoint_container=containers[1]), fps, out,
                      now=now)
    return code, out.getvalue()


# ------------------------------------------------------------------------------------ 8 writer processes


def _writer_process(conn_str: str, containers: tuple[str, str], n: int, key: str) -> tuple[str, list[str]]:
    service = BlobServiceClient.from_connection_string(conn_str)
    t = blob_trail(service, containers, signing_key=key)  # default writer id: unique per process
    hashes = [t.record("detected", cache_id=CACHE, rule="firewall", severity="high", detail=f"p{n}-{i}")["hash"]
              for i in range(15)]
    return t.writer_id, hashes


def test_eight_writer_processes_each_keep_their_own_chain(
    azurite: Azurite, blob_service: BlobServiceClient, containers: tuple[str, str], signing_key: Path
) -> None:
    ctx = multiprocessing.get_context("fork")
    with ctx.Pool(8) as pool:
        jobs = [(azurite.connection_string, containers, n, str(signing_key)) for n in range(8)]
        results = pool.starmap(_writer_process, jobs)
    writers = {w for w, _ in results}
    assert len(writers) == 8 and os.getpid() not in {int(w.split("-")[-2]) for w in writers}
    chains = chain_records(blob_service, containers[0])
    assert set(chains) == writers
    for writer, hashes in results:
        assert [r["seq"] for r in chains[writer]] == list(range(15))
        assert [r["hash"] for r in chains[writer]] == hashes
    all_details = sorted(r["detail"] for recs in chains.values() for r in recs)
    assert all_details == sorted(f"p{n}-{i}" for n in range(8) for i in range(15))

    checkpointer = blob_trail(blob_service, containers, signing_key=str(signing_key))
    doc = checkpointer.checkpoint()
    assert doc is not None
    assert {c["chain"]: c["seq"] for c in doc["payload"]["chains"]} == dict.fromkeys(writers, 14)
    code, out = verify(blob_service, containers, [fingerprint(PemSigner.from_file(signing_key).public_key_der)],
                       now=datetime.now(UTC))
    assert code == 0, out
    assert "120 records in 8 chain(s) and 1 checkpoint(s)" in out
    # A later checkpoint sees heads that moved since the last one, and the checkpointer's own chain.
    checkpointer.record("scan-finished", scan_id="scan-1")
    later = checkpointer.checkpoint()
    assert later is not None
    assert {c["chain"]: c["seq"] for c in later["payload"]["chains"]} == {
        **dict.fromkeys(writers, 14), checkpointer.writer_id: 0
    }


# ------------------------------------------------------------------------------------ lost responses


class FlakyTransport(RequestsTransport):
    """Performs requests for real but, once, loses the response of the Nth append (ServiceResponseError)
    or fails before sending it (ServiceRequestError). Records the status of every append it saw."""

    def __init__(self, fail_on_append: int, mode: str) -> None:
        super().__init__()
        self.fail_on_append = fail_on_append
        self.mode = mode
        self.appends = 0
        self.statuses: list[int | str] = []

    def send(self, request: HttpRequest, **kwargs: Any) -> HttpResponse:
        is_append = request.method == "PUT" and "comp=appendblock" in request.url
        if is_append:
            self.appends += 1
            if self.appends == self.fail_on_append and self.mode == "not-sent":
                self.statuses.append("not-sent")
                raise ServiceRequestError("injected: connection failed before the request was sent")
        response = super().send(request, **kwargs)
        if is_append:
            self.statuses.append(response.status_code)
            if self.appends == self.fail_on_append and self.mode == "lost":
                self.statuses[-1] = f"lost-{response.status_code}"
                raise ServiceResponseError("injected: the append was performed but its response was lost")
        return response


@pytest.mark.parametrize("retry_total", [None, 0], ids=["sdk-retries", "no-sdk-retry"])
@pytest.mark.parametrize("mode", ["lost", "not-sent"])
def test_an_ambiguous_append_is_neither_duplicated_nor_lost(
    azurite: Azurite, containers: tuple[str, str], clock: Clock, mode: str, retry_total: int | None
) -> None:
    transport = FlakyTransport(fail_on_append=3, mode=mode)
    # The SDK's own retry, without its 15-second backoff so the test stays fast.
    retry = LinearRetry(backoff=0, random_jitter_range=0, retry_total=3 if retry_total is None else retry_total)
    service = BlobServiceClient.from_connection_string(azurite.connection_string, transport=transport,
                                                       retry_policy=retry)
    t = blob_trail(service, containers, clock=clock, writer_id="flaky")
    written = [t.record("alert", detail=f"n{i}") for i in range(5)]
    [chain] = chain_records(service, containers[0]).values()
    assert [r["seq"] for r in chain] == [0, 1, 2, 3, 4]
    assert [r["hash"] for r in chain] == [r["hash"] for r in written]
    if mode == "lost":
        assert transport.statuses[2] == "lost-201"
        # With SDK retries the SDK re-sent the append itself and the append-position condition refused
        # it (412); without, the sink found its record at the tail and did not send it again.
        assert transport.statuses[3] == (412 if retry_total is None else 201)
        assert transport.appends == (6 if retry_total is None else 5)
    else:
        assert transport.statuses[2] == "not-sent" and transport.statuses[3] == 201
        assert transport.appends == 6
    assert verify(service, containers)[0] == 0


# ------------------------------------------------------------------------------------ create / overwrite


def test_create_append_blob_overwrites_unless_if_none_match(
    blob_service: BlobServiceClient, containers: tuple[str, str]
) -> None:
    """The Azure pitfall the sink guards against, shown on the real SDK."""
    container = blob_service.create_container(containers[0])
    blob = container.get_blob_client("w/2026-03-02/00000.jsonl")
    blob.create_append_blob()
    blob.append_block(b"precious\n")
    with pytest.raises(ResourceExistsError):
        blob.create_append_blob(if_none_match="*")
    assert blob.download_blob().readall() == b"precious\n"
    blob.create_append_blob()  # no condition: silently replaced by an empty blob
    assert blob.download_blob().readall() == b""


def test_a_second_writer_cannot_overwrite_a_day_blob(
    blob_service: BlobServiceClient, containers: tuple[str, str], clock: Clock
) -> None:
    first = blob_trail(blob_service, containers, writer_id="dup", clock=clock)
    second = blob_trail(blob_service, containers, writer_id="dup", clock=clock)
    assert isinstance(second.sink, BlobSink)
    second.sink.resume()  # both found no chain yet: both will try to create today's blob
    first.record("alert", detail="mine")
    first.record("alert", detail="mine too")
    with pytest.raises(ChainConflict, match="already exists"):
        second.record("alert", detail="theirs")
    [chain] = chain_records(blob_service, containers[0]).values()
    assert [r["detail"] for r in chain] == ["mine", "mine too"]
    # The loser of an append race is refused too, instead of forking the chain.
    third = blob_trail(blob_service, containers, writer_id="dup", clock=clock)
    assert third.record("alert", detail="resumed")["seq"] == 2
    with pytest.raises(ChainConflict, match="refusing to fork"):
        first.record("alert", detail="stale")
    assert verify(blob_service, containers)[0] == 0


def test_an_explicit_writer_id_resumes_its_chain(
    blob_service: BlobServiceClient, containers: tuple[str, str], clock: Clock
) -> None:
    blob_trail(blob_service, containers, writer_id="cli-ops", clock=clock).record("alert", detail="run 1")
    rec = blob_trail(blob_service, containers, writer_id="cli-ops", clock=clock).record("alert", detail="run 2")
    assert rec["seq"] == 1
    assert [b.name for b in blob_service.get_container_client(containers[0]).list_blobs()] == [
        "cli-ops/2026-03-02/00000.jsonl"
    ]


# ------------------------------------------------------------------------------------ rotation and days


def test_blobs_rotate_before_the_block_limit(
    blob_service: BlobServiceClient, containers: tuple[str, str], clock: Clock
) -> None:
    t = blob_trail(blob_service, containers, writer_id="rot", clock=clock, rotate_blocks=3)
    for i in range(7):
        t.record("alert", detail=str(i))
    client = blob_service.get_container_client(containers[0])
    names = sorted(b.name for b in client.list_blobs())
    assert names == [f"rot/2026-03-02/0000{n}.jsonl" for n in range(3)]
    counts = [client.get_blob_client(n).get_blob_properties().append_blob_committed_block_count for n in names]
    assert counts == [3, 3, 1]
    assert verify(blob_service, containers)[0] == 0
    with pytest.raises(ValueError):
        blob_trail(blob_service, containers, rotate_blocks=50_000)


def test_day_rollover_starts_a_new_blob_and_continues_the_chain(
    blob_service: BlobServiceClient, containers: tuple[str, str]
) -> None:
    clock = Clock(datetime(2026, 3, 2, 23, 59, 58, tzinfo=UTC))
    t = blob_trail(blob_service, containers, writer_id="night", clock=clock)
    recs = [t.record("alert", detail=str(i)) for i in range(4)]
    client = blob_service.get_container_client(containers[0])
    names = sorted(b.name for b in client.list_blobs())
    assert names == ["night/2026-03-02/00000.jsonl", "night/2026-03-03/00000.jsonl"]
    assert [r["time"][:10] for r in recs] == ["2026-03-02", "2026-03-02", "2026-03-03", "2026-03-03"]
    assert recs[2]["prev_hash"] == recs[1]["hash"]  # the chain crosses the day boundary
    assert verify(blob_service, containers)[0] == 0
    client.delete_blob(names[0])  # losing a whole day is a deletion of the chain's first records
    code, out = verify(blob_service, containers)
    assert code == 1 and "FAILED: deleted: night#2" in out


def test_bst_to_gmt_keeps_one_utc_day_blob(blob_service: BlobServiceClient, containers: tuple[str, str]) -> None:
    """25/10/2026: 01:30 happens twice in London (BST, then GMT). UTC times and the day blob do not repeat."""
    clock = Clock(datetime(2026, 10, 25, 0, 30, tzinfo=UTC), tick=timedelta(hours=1))
    t = blob_trail(blob_service, containers, writer_id="dst", clock=clock)
    recs = [t.record("alert", detail=str(i)) for i in range(3)]
    assert [r["time"] for r in recs] == [
        "2026-10-25T00:30:00.000000Z", "2026-10-25T01:30:00.000000Z", "2026-10-25T02:30:00.000000Z"
    ]
    names = [b.name for b in blob_service.get_container_client(containers[0]).list_blobs()]
    assert names == ["dst/2026-10-25/00000.jsonl"]
    assert verify(blob_service, containers)[0] == 0


# ------------------------------------------------------------------------------------ records stored together


def _blocks(service: BlobServiceClient, container: str) -> dict[str, int]:
    client = service.get_container_client(container)
    return {b.name: client.get_blob_client(b.name).get_blob_properties().append_blob_committed_block_count
            for b in client.list_blobs()}


def test_records_stored_together_are_one_append_block_of_one_chain(
    blob_service: BlobServiceClient, containers: tuple[str, str], clock: Clock
) -> None:
    """Issue 13: one evaluation's records (here 3 findings and the summary) cost one append, not four."""
    t = blob_trail(blob_service, containers, writer_id="batch", clock=clock)
    t.record("alert", detail="before")
    with t.together() as batch:
        for rule in ("firewall", "tls", "entra"):
            batch.record("detected", cache_id=CACHE, rule=rule, severity="high", detail=rule)
        batch.record("evaluated", cache_id=CACHE, statuses={"firewall": "non-compliant"})
        assert _blocks(blob_service, containers[0]) == {"batch/2026-03-02/00000.jsonl": 1}  # nothing yet
    t.record("alert", detail="after")
    assert _blocks(blob_service, containers[0]) == {"batch/2026-03-02/00000.jsonl": 3}
    [chain] = chain_records(blob_service, containers[0]).values()
    assert [r["seq"] for r in chain] == list(range(6))
    assert [r["kind"] for r in chain] == ["alert", "detected", "detected", "detected", "evaluated", "alert"]
    assert all(b["prev_hash"] == a["hash"] for a, b in zip(chain, chain[1:], strict=False))
    assert verify(blob_service, containers)[0] == 0


def test_records_stored_together_split_at_the_utc_day(blob_service: BlobServiceClient,
                                                      containers: tuple[str, str]) -> None:
    clock = Clock(datetime(2026, 3, 2, 23, 59, 58, tzinfo=UTC))
    t = blob_trail(blob_service, containers, writer_id="midnight", clock=clock)
    with t.together() as batch:
        for i in range(4):
            batch.record("alert", detail=str(i))
    assert _blocks(blob_service, containers[0]) == {"midnight/2026-03-02/00000.jsonl": 1,
                                                    "midnight/2026-03-03/00000.jsonl": 1}
    assert verify(blob_service, containers)[0] == 0


def test_records_gathered_in_a_block_that_raises_are_still_stored(
    blob_service: BlobServiceClient, containers: tuple[str, str], clock: Clock
) -> None:
    t = blob_trail(blob_service, containers, writer_id="raises", clock=clock)
    with pytest.raises(RuntimeError, match="the block failed"), t.together() as batch:
        batch.record("detected", cache_id=CACHE, rule="tls", severity="high", detail="seen before the failure")
        raise RuntimeError("the block failed")
    [chain] = chain_records(blob_service, containers[0]).values()
    assert [r["detail"] for r in chain] == ["seen before the failure"]


@pytest.mark.parametrize("mode", ["lost", "not-sent"])
def test_an_ambiguous_append_of_records_stored_together_is_neither_duplicated_nor_lost(
    azurite: Azurite, containers: tuple[str, str], clock: Clock, mode: str
) -> None:
    """The block of several records is what the append-position check reads back: all there, or none."""
    transport = FlakyTransport(fail_on_append=2, mode=mode)
    retry = LinearRetry(backoff=0, random_jitter_range=0, retry_total=0)
    service = BlobServiceClient.from_connection_string(azurite.connection_string, transport=transport,
                                                       retry_policy=retry)
    t = blob_trail(service, containers, clock=clock, writer_id="flaky-batch")
    t.record("alert", detail="first")
    with t.together() as batch:
        for i in range(3):
            batch.record("alert", detail=f"together {i}")
    t.record("alert", detail="last")
    [chain] = chain_records(service, containers[0]).values()
    assert [r["detail"] for r in chain] == ["first", "together 0", "together 1", "together 2", "last"]
    assert verify(service, containers)[0] == 0
