"""Attacks by someone who can append to (or, without WORM, rewrite) the audit storage but holds no key.

Each was run against the trail before records were signed and passed `audit verify --key-fingerprint`:
a forged append with a valid hash, a planted head at #999999 that the next checkpoint signed (so verify
failed for ever after), all checkpoints deleted, the newest checkpoint deleted and the tail re-chained,
and a chain hidden from a checkpoint. Now only records a certified warden writer signed verify.
"""

from __future__ import annotations

import io
import json
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from remediators.audit import open_trail
from remediators.audit.canonical import canonical_json, parse_utc
from remediators.audit.checkpoint import build_checkpoint
from remediators.audit.commands import audit_export, audit_verify
from remediators.audit.file_sink import FileSink
from remediators.audit.reader import FileSource
from remediators.audit.schema import record_hash
from remediators.audit.signing import PemSigner, fingerprint
from remediators.audit.verify import run_verify
from remediators.audit.writer_key import WriterKey

from .conftest import BASELINE, CACHE, IDENTITY, Clock
from .test_tamper import BlobStore, FileStore

Store = FileStore | BlobStore


@pytest.fixture(params=["file", "blob"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Store:
    if request.param == "file":
        return FileStore(tmp_path)
    return BlobStore(request.getfixturevalue("blob_service"), request.getfixturevalue("containers"))


def _fp(key: Path) -> str:
    return fingerprint(PemSigner.from_file(key).public_key_der)


def verify(store: Store, key: Path, now: datetime, **kw: Any) -> tuple[int, str]:
    out = io.StringIO()
    code = run_verify(store.source(), [_fp(key)], out, now=now, **kw)
    return code, out.getvalue()


def first_failure(out: str) -> str:
    return next(line for line in out.splitlines() if line.startswith("FAILED"))


def checkpointer(store: Store, clock: Clock, key: Path) -> Any:
    """Another warden instance (the hourly timer): a writer of its own that signs every chain's head."""
    if isinstance(store, FileStore):
        return store.trail(clock, key)
    return open_trail(audit_file=None, blob_service=store.service, container=store.names[0],
                      checkpoint_container=store.names[1], signing_key=str(key), writer_id="timer",
                      baseline_hash=BASELINE, our_identity=IDENTITY, clock=clock)


def writer_lines(store: Store) -> list[bytes]:
    if isinstance(store, FileStore):
        return store.lines()
    return store.audit.download_blob(f"w/{_day(store)}/00000.jsonl").readall().splitlines()


def _day(store: BlobStore) -> str:
    return next(b.name for b in store.audit.list_blobs() if b.name.startswith("w/")).split("/")[1]


def append_raw(store: Store, line: bytes) -> None:
    """What append rights allow (WORM with protected append writes still allows it): one more block."""
    if isinstance(store, FileStore):
        with store.path.open("ab") as f:
            f.write(line + b"\n")
    else:
        store.audit.get_blob_client(f"w/{_day(store)}/00000.jsonl").append_block(line + b"\n")


def forge_after(head_line: bytes, *, seq: int | None = None, signed_by: Path | None = None) -> bytes:
    """A record that links to the real head with a valid hash, as anyone can compute; optionally
    "signed" by a key the attacker made up and certified with another key of their own."""
    head = json.loads(head_line)
    rec = {k: v for k, v in head.items() if k not in ("sig", "writer_cert", "hash")}
    rec.update(v=1, seq=head["seq"] + 1 if seq is None else seq, prev_hash=head["hash"], kind="remediated",
               cache_id=CACHE, rule="firewall", detail="forged: firewall fixed")
    if signed_by is None:
        rec["hash"] = record_hash(rec)
        return canonical_json(rec)
    key = WriterKey(rec["writer"], PemSigner.from_file(signed_by), parse_utc(rec["time"]))
    rec.update(v=2, writer_cert=key.cert)
    rec["hash"] = record_hash(rec)
    rec["sig"] = key.sign_record(rec["hash"])
    return canonical_json(rec)


def six_records_and_a_checkpoint(store: Store, clock: Clock, key: Path) -> datetime:
    t = store.trail(clock, key)
    for n in range(6):
        t.record("detected", cache_id=CACHE, rule="tls-min-version", severity="high", detail=f"r{n}")
    doc = t.checkpoint()
    assert doc is not None
    return parse_utc(doc["payload"]["time"])


def test_records_carry_a_writer_signature_certified_by_the_signing_key(
    store: Store, clock: Clock, signing_key: Path
) -> None:
    cp_time = six_records_and_a_checkpoint(store, clock, signing_key)
    records = [json.loads(line) for line in writer_lines(store)]
    assert {r["v"] for r in records} == {2}
    certs = {canonical_json(r["writer_cert"]) for r in records}
    assert len(certs) == 1  # one certificate (one signing-key call) for the whole process
    cert = json.loads(certs.pop())["payload"]
    assert cert["writer"] == "w" and cert["signer_fingerprint"] == _fp(signing_key)
    assert verify(store, signing_key, cp_time + timedelta(minutes=1))[0] == 0


@pytest.mark.parametrize("signed_by", [None, "attacker-key"])
def test_a_forged_append_with_a_valid_hash_fails_verify_and_is_never_checkpointed(
    store: Store, clock: Clock, signing_key: Path, other_key: Path, signed_by: str | None
) -> None:
    six_records_and_a_checkpoint(store, clock, signing_key)
    append_raw(store, forge_after(writer_lines(store)[-1], signed_by=other_key if signed_by else None))
    timer = checkpointer(store, clock, signing_key)
    doc = timer.checkpoint()
    assert doc is not None
    payload = doc["payload"]
    assert "w" not in {c["chain"] for c in payload["chains"]}
    assert [(r["chain"], r["seq"]) for r in payload["refused"]] == [("w", 6)]
    code, out = verify(store, signing_key, parse_utc(payload["time"]) + timedelta(minutes=1))
    assert code == 1
    assert first_failure(out).startswith("FAILED: forged: w#6"), out
    assert "not written by a certified warden writer" in out
    # The checkpointer put its refusal on the record.
    alerts = [json.loads(line) for line in _all_lines(store) if b'"alert"' in line]
    assert any([(h["chain"], h["seq"]) for h in a.get("heads", [])] == [("w", 6)] and "refused" in a["detail"]
               for a in alerts), alerts


def _all_lines(store: Store) -> list[bytes]:
    if isinstance(store, FileStore):
        return store.lines()
    return [line for b in store.audit.list_blobs() for line in store.audit.download_blob(b.name).readall().splitlines()]


def test_a_planted_head_is_reported_as_planted_never_signed_and_verify_recovers_when_it_goes(
    store: Store, clock: Clock, signing_key: Path
) -> None:
    six_records_and_a_checkpoint(store, clock, signing_key)
    genuine = writer_lines(store)
    planted = forge_after(genuine[-1], seq=999999)
    if isinstance(store, FileStore):
        append_raw(store, planted)
    else:
        # A new day blob in the writer's folder: its tail is what a checkpointer reads as the head.
        blob = store.audit.get_blob_client(f"w/{_day(store)[:8]}28/00000.jsonl")
        blob.create_append_blob()
        blob.append_block(planted + b"\n")
    timer = checkpointer(store, clock, signing_key)
    doc = timer.checkpoint()
    assert doc is not None
    assert all(c["seq"] != 999999 for c in doc["payload"]["chains"])
    assert [(r["chain"], r["seq"]) for r in doc["payload"]["refused"]] == [("w", 999999)]
    now = parse_utc(doc["payload"]["time"]) + timedelta(minutes=1)
    code, out = verify(store, signing_key, now)
    assert code == 1 and first_failure(out).startswith("FAILED: planted: w#999999"), out
    # Not for ever: no checkpoint vouches for #999999, so once it is removed the trail verifies again.
    if isinstance(store, FileStore):
        store.rewrite(genuine)  # the planted line and the alert the checkpointer linked after it
    else:
        store.audit.delete_blob(f"w/{_day(store)[:8]}28/00000.jsonl")
    code, out = verify(store, signing_key, now)
    assert code == 0, out


def test_deleting_every_checkpoint_fails_a_pinned_verify(store: Store, clock: Clock, signing_key: Path) -> None:
    cp_time = six_records_and_a_checkpoint(store, clock, signing_key)
    store.rewrite_checkpoints([])
    code, out = verify(store, signing_key, cp_time + timedelta(minutes=1))
    assert code == 1 and first_failure(out).startswith("FAILED: no-checkpoint"), out


def _two_checkpoints_hours_apart(store: Store, clock: Clock, key: Path) -> datetime:
    six_records_and_a_checkpoint(store, clock, key)
    clock.now += timedelta(hours=3)
    t = store.trail(clock, key)
    for n in range(4):
        t.record("remediated", cache_id=CACHE, rule="non-ssl-port", detail=f"later {n}")
    doc = t.checkpoint()
    assert doc is not None
    return parse_utc(doc["payload"]["time"])


def _rechain(lines: list[bytes], drop: int, strip_signatures: bool) -> list[bytes]:
    """Delete record `drop` and re-link everything after it, as a rewrite without the writer's key can."""
    out: list[bytes] = []
    prev_hash = None
    for n, line in enumerate(lines):
        if n == drop:
            continue
        rec = json.loads(line)
        if n > drop:
            rec["seq"] -= 1
            rec["prev_hash"] = prev_hash
            if strip_signatures:
                rec.pop("sig", None)
                rec.pop("writer_cert", None)
                rec["v"] = 1
            rec["hash"] = record_hash(rec)
        prev_hash = rec["hash"]
        out.append(canonical_json(rec))
    return out


@pytest.mark.parametrize(
    "rewrite, expected",
    [
        ("rechain-keeping-signatures", "FAILED: edited: w#6"),
        ("rechain-unsigned", "FAILED: forged: w#6"),
        ("cut-to-the-older-checkpoint", "FAILED: stale-checkpoint"),
    ],
)
def test_deleting_the_newest_checkpoint_and_rewriting_the_tail_fails(
    store: Store, clock: Clock, signing_key: Path, rewrite: str, expected: str
) -> None:
    newest = _two_checkpoints_hours_apart(store, clock, signing_key)
    docs = sorted(store.checkpoints(), key=lambda d: json.loads(d)["payload"]["time"])
    store.rewrite_checkpoints(docs[:1])
    lines = store.lines()
    if rewrite == "cut-to-the-older-checkpoint":
        store.rewrite(lines[:6])
    else:
        store.rewrite(_rechain(lines, 6, strip_signatures=rewrite == "rechain-unsigned"))
    code, out = verify(store, signing_key, newest + timedelta(minutes=1))
    assert code == 1 and first_failure(out).startswith(expected), out
    if rewrite == "cut-to-the-older-checkpoint":
        # An archived copy is reviewed with the age check off; then the cut is outside what can be seen.
        assert verify(store, signing_key, newest, max_checkpoint_age=None)[0] == 0


def test_a_chain_hidden_from_a_checkpoint_and_put_back_is_unlisted(
    blob_service: Any, containers: tuple[str, str], clock: Clock, signing_key: Path
) -> None:
    store = BlobStore(blob_service, containers)
    six_records_and_a_checkpoint(store, clock, signing_key)
    hidden = open_trail(audit_file=None, blob_service=blob_service, container=containers[0],
                        checkpoint_container=containers[1], signing_key=str(signing_key), writer_id="other",
                        baseline_hash=BASELINE, our_identity=IDENTITY, clock=clock)
    hidden.record("remediation-started", cache_id=CACHE, rule="firewall")
    [name] = [b.name for b in store.audit.list_blobs() if b.name.startswith("other/")]
    data = store.audit.download_blob(name).readall()
    store.audit.delete_blob(name)
    clock.now += timedelta(minutes=30)
    doc = checkpointer(store, clock, signing_key).checkpoint()
    assert doc is not None and "other" not in {c["chain"] for c in doc["payload"]["chains"]}
    blob = store.audit.get_blob_client(name)
    blob.create_append_blob()
    blob.append_block(data)
    code, out = verify(store, signing_key, parse_utc(doc["payload"]["time"]) + timedelta(minutes=1))
    assert code == 1 and "FAILED: unlisted: chain other" in out, out


# ------------------------------------------------------------------------------------ v1 trails


def _v1_checkpoint(path: Path, key: Path, clock: Clock) -> None:
    """A checkpoint exactly as the v1 writer made it (no `refused`, v 1), over the file's head."""
    signer = PemSigner.from_file(key)
    doc = build_checkpoint(FileSink(path, "w").heads(), time=clock(), writer="w", sink=f"file:{path}", signer=signer)
    payload = {k: v for k, v in doc["payload"].items() if k != "refused"} | {"v": 1}
    from remediators.audit.signing import b64url

    v1 = {"payload": payload, "signature": b64url(signer.sign(canonical_json(payload)))}
    with Path(f"{path}.checkpoints.jsonl").open("ab") as f:
        f.write(canonical_json(v1) + b"\n")


def test_a_v1_trail_stays_readable_and_an_upgraded_writer_continues_it(
    tmp_path: Path, clock: Clock, signing_key: Path
) -> None:
    path = tmp_path / "audit.jsonl"
    old = open_trail(audit_file=str(path), signing_key=None, writer_id="w", baseline_hash=BASELINE,
                     our_identity=IDENTITY, clock=clock)
    for n in range(3):
        old.record("detected", cache_id=CACHE, rule="firewall", severity="high", detail=f"v1 {n}")
    _v1_checkpoint(path, signing_key, clock)
    out = io.StringIO()
    assert run_verify(FileSource(path), [_fp(signing_key)], out, now=clock.now) == 0, out.getvalue()
    # The upgraded writer joins the chain with signed records; a v2 checkpoint covers them.
    new = open_trail(audit_file=str(path), signing_key=str(signing_key), writer_id="w2", baseline_hash=BASELINE,
                     our_identity=IDENTITY, clock=clock)
    new.record("remediated", cache_id=CACHE, rule="firewall")
    assert new.checkpoint() is not None
    assert [json.loads(line)["v"] for line in path.read_bytes().splitlines()] == [1, 1, 1, 2]
    out = io.StringIO()
    assert run_verify(FileSource(path), [_fp(signing_key)], out, now=clock.now) == 0, out.getvalue()
    exported = io.StringIO()
    assert audit_export(format="json", file=str(path), out=exported) == 0
    assert len(json.loads(exported.getvalue())) == 4


def test_unsigned_records_under_no_checkpoint_fail_a_pinned_verify(
    tmp_path: Path, clock: Clock, signing_key: Path
) -> None:
    path = tmp_path / "audit.jsonl"
    old = open_trail(audit_file=str(path), signing_key=None, writer_id="w", baseline_hash=BASELINE,
                     our_identity=IDENTITY, clock=clock)
    old.record("detected", cache_id=CACHE, rule="firewall", severity="high")
    _v1_checkpoint(path, signing_key, clock)
    old.record("remediated", cache_id=CACHE, rule="firewall", detail="after the checkpoint, unsigned")
    out = io.StringIO()
    assert run_verify(FileSource(path), [_fp(signing_key)], out, now=clock.now) == 1
    assert first_failure(out.getvalue()).startswith("FAILED: unsigned: w#1"), out.getvalue()


def test_the_cli_age_option(tmp_path: Path, clock: Clock, signing_key: Path) -> None:
    path = tmp_path / "audit.jsonl"
    t = open_trail(audit_file=str(path), signing_key=str(signing_key), writer_id="w", baseline_hash=BASELINE,
                   our_identity=IDENTITY, clock=clock)
    t.record("scan-started", scan_id="scan-1")
    t.checkpoint()
    later = clock.now + timedelta(hours=5)
    out = io.StringIO()
    assert audit_verify(file=str(path), key_fingerprint=_fp(signing_key), now=later, out=out) == 1
    assert "stale-checkpoint" in out.getvalue()
    assert audit_verify(file=str(path), key_fingerprint=_fp(signing_key), now=later, max_checkpoint_age_hours=6,
                        out=io.StringIO()) == 0
    assert audit_verify(file=str(path), key_fingerprint=_fp(signing_key), now=later, max_checkpoint_age_hours=0,
                        out=io.StringIO()) == 0
    err = io.StringIO()
    assert audit_verify(file=str(path), key_fingerprint=_fp(signing_key), max_checkpoint_age_hours=-1,
                        out=io.StringIO(), err=err) == 2
    assert "--max-checkpoint-age" in err.getvalue()
