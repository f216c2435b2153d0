"""Signed checkpoints: the heads of every chain at one moment, signed so that truncation and rewriting of
history before that moment can be detected by anyone holding the pinned key fingerprint.

A checkpoint is `{"payload": {...}, "signature": base64url(r||s)}`; the signature covers the canonical
JSON of the payload, which carries the algorithm, the public key (DER SPKI, base64) and its fingerprint.
Carrying the key makes a checkpoint self-describing; trusting it is the verifier's job, by comparing the
fingerprint with one pinned outside the audit storage.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from .canonical import canonical_json, format_utc
from .schema import ChainHead
from .signing import ALGORITHM, Signer, fingerprint, verify_signature

CHECKPOINT_TYPE = "redis-warden/audit-checkpoint"
CHECKPOINT_VERSION = 1


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def build_checkpoint(
    heads: Iterable[ChainHead], *, time: datetime, writer: str, sink: str, signer: Signer
) -> dict[str, Any]:
    public_der = signer.public_key_der
    payload = {
        "type": CHECKPOINT_TYPE,
        "v": CHECKPOINT_VERSION,
        "time": format_utc(time),
        "writer": writer,
        "sink": sink,
        "alg": ALGORITHM,
        "public_key": _b64(public_der),
        "key_fingerprint": fingerprint(public_der),
        "chains": [
            {"chain": h.chain, "segment": h.segment, "seq": h.seq, "hash": h.hash}
            for h in sorted(heads, key=lambda h: h.chain)
        ],
    }
    return {"payload": payload, "signature": _b64(signer.sign(canonical_json(payload)))}


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
        public_der = _unb64(str(payload.get("public_key", "")))
        signature = _unb64(str(doc.get("signature", "")))
        heads = tuple(
            ChainHead(chain=str(c["chain"]), seq=int(c["seq"]), hash=str(c["hash"]), time=time or "",
                      segment=str(c.get("segment", "")))
            for c in payload.get("chains", [])
        )
    except (binascii.Error, ValueError, KeyError, TypeError) as exc:
        return bad("malformed", f"unreadable checkpoint: {exc}", time)
    fp = fingerprint(public_der)
    if payload.get("key_fingerprint") != fp:
        return bad("bad-signature", "the embedded key does not match its stated fingerprint", time, fp)
    if pinned is not None and fp not in {p.lower() for p in pinned}:
        return bad("unknown-key", f"signed by key {fp}, which is not a pinned key", time, fp)
    if not verify_signature(public_der, canonical_json(payload), signature):
        return bad("bad-signature", "the signature does not match the checkpoint contents", time, fp)
    return CheckedCheckpoint(location, time, heads, fp, None)
