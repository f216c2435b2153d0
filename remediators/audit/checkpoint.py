"""Signed checkpoints: the heads of every chain at one moment, signed so that truncation and rewriting of
history before that moment can be detected by anyone holding the pinned key fingerprint.

A checkpoint is `{"payload": {...}, "signature": base64url(r||s)}`; the signature covers the canonical
JSON of the payload, which carries the algorithm, the public key (DER SPKI, base64) and its fingerprint.
Carrying the key makes a checkpoint self-describing; trusting it is the verifier's job, by comparing the
fingerprint with one pinned outside the audit storage.
"""

from __future__ import annotations

import binascii
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from .canonical import canonical_json, format_utc
from .schema import ChainHead
from .signing import ALGORITHM, Signer, b64url, fingerprint, unb64url, verify_signature

CHECKPOINT_TYPE = "redis-warden/audit-checkpoint"
# v2 adds `refused`: heads the checkpointer saw but would not sign (not written by a certified writer).
CHECKPOINT_VERSION = 2


def build_checkpoint(
    heads: Iterable[ChainHead], *, time: datetime, writer: str, sink: str, signer: Signer,
    refused: Iterable[tuple[ChainHead, str]] = (),
) -> dict[str, Any]:
    """Sign `heads`; `refused` lists heads that were seen but not signed, with the reason, so a verifier
    knows the checkpointer did see those chains."""
    public_der = signer.public_key_der
    payload = {
        "type": CHECKPOINT_TYPE,
        "v": CHECKPOINT_VERSION,
        "time": format_utc(time),
        "writer": writer,
        "sink": sink,
        "alg": ALGORITHM,
        "public_key": b64url(public_der),
        "key_fingerprint": fingerprint(public_der),
        "chains": [
            {"chain": h.chain, "segment": h.segment, "seq": h.seq, "hash": h.hash}
            for h in sorted(heads, key=lambda h: h.chain)
        ],
        "refused": [
            {"chain": h.chain, "segment": h.segment, "seq": h.seq, "reason": reason}
            for h, reason in sorted(refused, key=lambda pair: pair[0].chain)
        ],
    }
    return {"payload": payload, "signature": b64url(signer.sign(canonical_json(payload)))}


@dataclass(frozen=True)
class CheckedCheckpoint:
    """One checkpoint after checking. `problem` is None only for a good signature by a trusted key
    (or by any self-consistent key when nothing is pinned)."""

    location: str
    time: str | None
    heads: tuple[ChainHead, ...]
    fingerprint: str | None
    problem: str | None  # "bad-signature" | "unknown-key" | "malformed"
    message: str = ""
    refused: tuple[str, ...] = ()  # chains seen but not signed (v2 checkpoints)


def check_checkpoint(
    doc: Any, location: str, pinned: Collection[str] | None
) -> CheckedCheckpoint:
    """Check one checkpoint's structure, key and signature. `pinned` None trusts any consistent key."""

    def bad(kind: str, message: str, time: str | None = None, fp: str | None = None) -> CheckedCheckpoint:
        return CheckedCheckpoint(location, time, (), fp, kind, message)

    if not isinstance(doc, Mapping) or not isinstance(doc.get("payload"), Mapping):
        return bad("malformed", "not a checkpoint document")
    payload = doc["payload"]
    time = payload.get("time") if isinstance(payload.get("time"), str) else None
    if payload.get("type") != CHECKPOINT_TYPE or payload.get("alg") != ALGORITHM:
        return bad("malformed", f"unsupported checkpoint type/alg {payload.get('type')!r}/{payload.get('alg')!r}", time)
    try:
        public_der = unb64url(str(payload.get("public_key", "")))
        signature = unb64url(str(doc.get("signature", "")))
        heads = tuple(
            ChainHead(chain=str(c["chain"]), seq=int(c["seq"]), hash=str(c["hash"]), time=time or "",
                      segment=str(c.get("segment", "")))
            for c in payload.get("chains", [])
        )
        refused = tuple(str(c["chain"]) for c in payload.get("refused", []))
    except (binascii.Error, ValueError, KeyError, TypeError) as exc:
        return bad("malformed", f"unreadable checkpoint: {exc}", time)
    fp = fingerprint(public_der)
    if payload.get("key_fingerprint") != fp:
        return bad("bad-signature", "the embedded key does not match its stated fingerprint", time, fp)
    if pinned is not None and fp not in {p.lower() for p in pinned}:
        return bad("unknown-key", f"signed by key {fp}, which is not a pinned key", time, fp)
    if not verify_signature(public_der, canonical_json(payload), signature):
        return bad("bad-signature", "the signature does not match the checkpoint contents", time, fp)
    return CheckedCheckpoint(location, time, heads, fp, None, refused=refused)
