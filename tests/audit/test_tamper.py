"""Every kind of tampering is detected and named, on the file sink and on append blobs alike."""

from __future__ import annotations

import io
import json
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from azure.storage.blob import BlobServiceClient

from remediators.audit import AuditTrail, open_trail
from remediators.audit.canonical import canonical_json, parse_utc
from remediators.audit.checkpoint import build_checkpoint
from remediators.audit.reader import BlobSource, FileSource, TrailSource
from remediators.audit.schema import ChainHead
from remediators.audit.signing import PemSigner, fingerprint
from remediators.audit.verify import run_verify

from . import tamper
from .conftest import BASELINE, CACHE, IDENTITY, Clock


class FileStore:
    def __init__(self, tmp_path: Path) -> None:
        self.path = tmp_path / "audit.jsonl"

    def trail(self, clock: Clock, key: Path) -> AuditTrail:
        return open_trail(audit_file=str(self.path), signing_key=str(key), writer_id="w", baseline_hash=BASELINE,
                          our_identity=IDENTITY, clock=clock)

    def source(self) -> TrailSource:
        return FileSource(self.path)

    def lines(self) -> list[bytes]:
        return self.path.read_bytes().splitlines()

    def rewrite(self, lines: list[bytes]) -> None:
        self.path.write_bytes(b"".join(line + b"\n" for line in lines))

    def checkpoints(self) -> list[bytes]:
        return Path(f"{self.path}.checkpoints.jsonl").read_bytes().splitlines()

    def rewrite_checkpoints(self, docs: list[bytes]) -> None:
        Path(f"{self.path}.checkpoints.jsonl").write_bytes(b"".join(d + b"\n" for d in docs))


class BlobStore:
    def __init__(self, service: BlobServiceClient, containers: tuple[str, str]) -> None:
        self.service = service
        self.names = containers
        self.audit = service.get_container_client(containers[0])
        self.ckpt = service.get_container_client(containers[1])

    def trail(self, clock: Clock, key: Path) -> AuditTrail:
        return open_trail(audit_file=None, blob_service=self.service, container=self.names[0],
                          checkpoint_container=self.names[1], signing_key=str(key), writer_id="w",
                          baseline_hash=BASELINE, our_identity=IDENTITY, clock=clock)

    def source(self) -> TrailSource:
        return BlobSource(self.service, container=self.names[0], checkpoint_container=self.names[1])

    def _blob(self) -> str:
        [name] = [b.name for b in self.audit.list_blobs()]
        return name

    def lines(self) -> list[bytes]:
        return self.audit.download_blob(self._blob()).readall().splitlines()

    def rewrite(self, lines: list[bytes]) -> None:
        # No WORM policy in Azurite: an attacker with data-plane write access can replace a blob.
        name = self._blob()
        self.audit.delete_blob(name)
        blob = self.audit.get_blob_client(name)
        blob.create_append_blob()
        blob.append_block(b"".join(line + b"\n" for line in lines))

    def checkpoints(self) -> list[bytes]:
        return [self.ckpt.download_blob(b.name).readall() for b in self.ckpt.list_blobs()]

    def rewrite_checkpoints(self, docs: list[bytes]) -> None:
        for b in list(self.ckpt.list_blobs()):
            self.ckpt.delete_blob(b.name)
        for n, doc in enumerate(docs):
            self.ckpt.upload_blob(f"forged-{n}.json", doc)


Store = FileStore | BlobStore


@pytest.fixture(params=["file", "blob"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Store:
    if request.param == "file":
        return FileStore(tmp_path)
    return BlobStore(request.getfixturevalue("blob_service"), request.getfixturevalue("containers"))


def six_records_and_a_checkpoint(store: Store, clock: Clock, key: Path) -> None:
    t = store.trail(clock, key)
    for n in range(6):
        t.record("detected", cache_id=CACHE, rule="tls-min-version", severity="high", detail=f"r{n}")
    assert t.checkpoint() is not None


def verify(store: Store, key: Path, now: datetime | None = None) -> tuple[int, str]:
    """Pinned verify, at the trail's own time unless told (the tests' clock is not the wall clock)."""
    out = io.StringIO()
    code = run_verify(store.source(), [fingerprint(PemSigner.from_file(key).public_key_der)], out,
                      now=now or _latest(store))
    return code, out.getvalue()


def _latest(store: Store) -> datetime:
    """Just after the newest record or checkpoint stored (what `now` is for a verify right after writing)."""
    times = [json.loads(line)["time"] for line in store.lines() if line.endswith(b"}")]
    times += [json.loads(doc)["payload"]["time"] for doc in store.checkpoints()]
    return parse_utc(max(times)) + timedelta(seconds=1)


def test_an_untouched_trail_verifies(store: Store, clock: Clock, signing_key: Path) -> None:
    six_records_and_a_checkpoint(store, clock, signing_key)
    code, out = verify(store, signing_key)
    assert code == 0, out
    assert "6 records in 1 chain(s) and 1 checkpoint(s)" in out


@pytest.mark.parametrize("case", sorted(tamper.CASES))
def test_tampering_is_detected_and_named(store: Store, clock: Clock, signing_key: Path, case: str) -> None:
    alter, kind, named = tamper.CASES[case]
    six_records_and_a_checkpoint(store, clock, signing_key)
    store.rewrite(alter(store.lines()))
    code, out = verify(store, signing_key)
    assert code == 1
    first = next(line for line in out.splitlines() if line.startswith("FAILED"))
    assert first.startswith(f"FAILED: {kind}: w{named}"), out


def test_a_torn_last_line_is_truncation(tmp_path: Path, clock: Clock, signing_key: Path) -> None:
    store = FileStore(tmp_path)
    six_records_and_a_checkpoint(store, clock, signing_key)
    lines = store.lines()
    store.rewrite(lines[:-1])
    store.path.write_bytes(store.path.read_bytes() + lines[-1][:40])
    code, out = verify(store, signing_key)
    assert code == 1 and out.startswith("FAILED: truncated: audit.jsonl line 6"), out


def _forge_lower_head(doc: bytes) -> bytes:
    parsed = json.loads(doc)
    parsed["payload"]["chains"][0]["seq"] = 3
    return canonical_json(parsed)


def test_an_edited_checkpoint_has_a_bad_signature(store: Store, clock: Clock, signing_key: Path) -> None:
    six_records_and_a_checkpoint(store, clock, signing_key)
    store.rewrite(tamper.cut_tail(store.lines()))
    store.rewrite_checkpoints([_forge_lower_head(d) for d in store.checkpoints()])
    code, out = verify(store, signing_key)
    assert code == 1
    assert "FAILED: bad-signature: checkpoint" in out


def test_a_checkpoint_re_signed_with_another_key_is_unknown(
    store: Store, clock: Clock, signing_key: Path, other_key: Path
) -> None:
    six_records_and_a_checkpoint(store, clock, signing_key)
    store.rewrite(tamper.cut_tail(store.lines()))
    payload = json.loads(store.checkpoints()[0])["payload"]
    heads = [ChainHead(c["chain"], 3, json.loads(store.lines()[3])["hash"], payload["time"], c["segment"])
             for c in payload["chains"]]
    forged = build_checkpoint(heads, time=clock(), writer="attacker", sink=payload["sink"],
                              signer=PemSigner.from_file(other_key))
    store.rewrite_checkpoints([canonical_json(forged)])
    code, out = verify(store, signing_key)
    assert code == 1
    assert "FAILED: unknown-key: checkpoint" in out
    # Without pinning the forgery is self-consistent: verify says so instead of pretending.
    unpinned = io.StringIO()
    assert run_verify(store.source(), None, unpinned) == 0
    assert "no --key-fingerprint given" in unpinned.getvalue()


def test_truncation_after_the_last_checkpoint_is_only_warned_about(
    store: Store, clock: Clock, signing_key: Path
) -> None:
    six_records_and_a_checkpoint(store, clock, signing_key)
    store.trail(clock, signing_key).record("alert", detail="after the checkpoint")
    code, out = verify(store, signing_key)
    assert code == 0 and "1 record(s) were written after the last checkpoint" in out
