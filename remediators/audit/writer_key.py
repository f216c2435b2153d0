"""Per-writer record signatures: only records the warden wrote verify.

A hash chain alone proves nothing about *who* appended: anyone with append rights on the audit container
(a locked WORM policy with protected append writes still grants them) can compute a valid hash. So each
writer process, when it first records, generates an **ephemeral** EC P-256 key that lives only in its
memory and has the checkpoint signing key (Key Vault in Azure, a PEM file locally) certify it once. Every
record it then writes carries that certificate (`writer_cert`) and an ES256 signature over its hash
(`sig`). A verifier holding the pinned fingerprint of the signing key checks the certificate, then the
record's signature: a record without both was not written by a warden process.

Certificate: `{"payload": {"type", "v", "writer", "issued", "alg", "public_key", "signer_public_key",
"signer_fingerprint"}, "signature"}` with the signature by the signing key over the canonical payload.
The certificate binds the ephemeral key to one writer id, so a key lifted from one chain's record cannot
vouch for a record claiming another writer.
"""

from __future__ import annotations

import binascii
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from .canonical import canonical_json, format_utc
from .signing import ALGORITHM, PemSigner, Signer, b64url, fingerprint, unb64url, verify_signature

CERT_TYPE = "redis-warden/audit-writer-key"
CERT_VERSION = 1
# Domain separation: a record signature can never be replayed as a checkpoint or certificate signature.
_RECORD_CONTEXT = b"redis-warden/audit-record:"
# A genuine certificate whose key did not sign this hash: a warden record edited and re-hashed.
SIG_MISMATCH = "its sig does not match its hash under the certified writer key"


def _record_message(record_hash: str) -> bytes:
    return _RECORD_CONTEXT + record_hash.encode("ascii")


class WriterKey:
    """This process's ephemeral record-signing key and its certificate (one signing-key call, at start)."""

    def __init__(self, writer: str, signer: Signer, issued: datetime) -> None:
        private = ec.generate_private_key(ec.SECP256R1())
        self._signer = PemSigner(private)
        signer_der = signer.public_key_der
        payload = {
            "type": CERT_TYPE,
            "v": CERT_VERSION,
            "writer": writer,
            "issued": format_utc(issued),
            "alg": ALGORITHM,
            "public_key": b64url(
                private.public_key().public_bytes(
                    serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
                )
            ),
            "signer_public_key": b64url(signer_der),
            "signer_fingerprint": fingerprint(signer_der),
        }
        self.writer = writer
        self.cert: dict[str, Any] = {"payload": payload, "signature": b64url(signer.sign(canonical_json(payload)))}

    def sign_record(self, record_hash: str) -> str:
        return b64url(self._signer.sign(_record_message(record_hash)))


@dataclass(frozen=True)
class CertCheck:
    """A writer certificate after checking: the writer and key it vouches for, or why it vouches for none."""

    writer: str | None
    public_der: bytes | None
    signer_fingerprint: str | None
    problem: str | None


def check_writer_cert(cert: Any, pinned: Collection[str] | None) -> CertCheck:
    """Is this a certificate signed by a trusted signing key? `pinned` None trusts any consistent key."""

    def bad(message: str, fp: str | None = None) -> CertCheck:
        return CertCheck(None, None, fp, message)

    if not isinstance(cert, Mapping) or not isinstance(cert.get("payload"), Mapping):
        return bad("writer_cert is not a certificate")
    payload = cert["payload"]
    if payload.get("type") != CERT_TYPE or payload.get("alg") != ALGORITHM or payload.get("v") != CERT_VERSION:
        return bad("writer_cert has an unsupported type, version or algorithm")
    try:
        signer_der = unb64url(str(payload.get("signer_public_key", "")))
        public_der = unb64url(str(payload.get("public_key", "")))
        signature = unb64url(str(cert.get("signature", "")))
    except (binascii.Error, ValueError):
        return bad("writer_cert is not base64url")
    fp = fingerprint(signer_der)
    if payload.get("signer_fingerprint") != fp:
        return bad("writer_cert's signing key does not match its stated fingerprint", fp)
    if pinned is not None and fp not in {p.lower() for p in pinned}:
        return bad(f"writer_cert is signed by key {fp}, which is not a pinned key", fp)
    if not verify_signature(signer_der, canonical_json(payload), signature):
        return bad("writer_cert's signature does not match its contents", fp)
    writer = payload.get("writer")
    if not isinstance(writer, str) or not writer:
        return bad("writer_cert names no writer", fp)
    return CertCheck(writer, public_der, fp, None)


def is_signed_format(record: Mapping[str, Any]) -> bool:
    """A record in the signed format (schema v2), whether or not its signature holds."""
    return record.get("v") == 2 or "sig" in record or "writer_cert" in record


class RecordTrust:
    """Checks record signatures, caching certificate checks (one certificate signs a whole process's records)."""

    def __init__(self, pinned: Collection[str] | None) -> None:
        self.pinned = pinned
        self._certs: dict[bytes, CertCheck] = {}

    def cert(self, cert: Any) -> CertCheck:
        try:
            key = canonical_json(cert)
        except (TypeError, ValueError):
            return CertCheck(None, None, None, "writer_cert is not JSON data")
        found = self._certs.get(key)
        if found is None:
            found = self._certs[key] = check_writer_cert(cert, self.pinned)
        return found

    def problem(self, record: Mapping[str, Any]) -> str | None:
        """None when a trusted, certified writer key signed this record's hash; else why not."""
        if "sig" not in record or "writer_cert" not in record:
            return "it carries no writer signature"
        if record.get("v") != 2:
            return "a signed record must be schema v2"
        cert = self.cert(record["writer_cert"])
        if cert.problem:
            return cert.problem
        if record.get("writer") != cert.writer:
            return f"its writer_cert is for writer {cert.writer!r}, not {record.get('writer')!r}"
        try:
            signature = unb64url(str(record["sig"]))
        except (binascii.Error, ValueError):
            return "its sig is not base64url"
        message = _record_message(str(record.get("hash", "")))
        if cert.public_der is None or not verify_signature(cert.public_der, message, signature):
            return SIG_MISMATCH
        return None
