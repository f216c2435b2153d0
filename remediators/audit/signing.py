"""ES256 signing of checkpoints behind one small interface, so the Key Vault seam can be swapped for a
local PEM key in tests and offline use.

Key Vault has no Ed25519, so both signers use ECDSA P-256 with SHA-256 and the JOSE signature encoding
(RFC 7518: r and s as 32-byte big-endian integers, concatenated), which is what Key Vault's `sign`
returns. A key is identified by its fingerprint: SHA-256 of the DER SubjectPublicKeyInfo, in hex. That
fingerprint is pinned outside the audit storage; a checkpoint carrying any other key is not trusted.
"""

from __future__ import annotations

import base64
import hashlib
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlparse

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature, encode_dss_signature

ALGORITHM = "ES256"
_COORD = 32  # bytes per P-256 coordinate / signature half


class SigningError(RuntimeError):
    """The configured key cannot sign checkpoints (wrong type, wrong curve, unreadable)."""


class Signer(Protocol):
    @property
    def public_key_der(self) -> bytes: ...

    def sign(self, data: bytes) -> bytes:
        """Raw r||s signature (64 bytes) over SHA-256 of `data`."""
        ...


def b64url(data: bytes) -> str:
    """Unpadded base64url, as JOSE spells keys and signatures."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def unb64url(text: str) -> bytes:
    """Inverse of `b64url`; raises binascii.Error / ValueError for text that is not base64url."""
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def fingerprint(public_key_der: bytes) -> str:
    return hashlib.sha256(public_key_der).hexdigest()


def _spki_der(public_key: ec.EllipticCurvePublicKey) -> bytes:
    return public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def _require_p256(key: ec.EllipticCurvePublicKey | ec.EllipticCurvePrivateKey) -> None:
    if not isinstance(key.curve, ec.SECP256R1):
        raise SigningError(f"checkpoint keys must be EC P-256 (ES256), not {key.curve.name}")


class PemSigner:
    """A local EC P-256 private key in a PEM file (WARDEN_SIGNING_KEY=/path/key.pem)."""

    def __init__(self, private_key: ec.EllipticCurvePrivateKey) -> None:
        _require_p256(private_key)
        self._key = private_key
        self._public_der = _spki_der(private_key.public_key())

    @classmethod
    def from_file(cls, path: str | Path) -> PemSigner:
        key = serialization.load_pem_private_key(Path(path).read_bytes(), password=None)
        if not isinstance(key, ec.EllipticCurvePrivateKey):
            raise SigningError(f"{path} does not hold an EC private key")
        return cls(key)

    @property
    def public_key_der(self) -> bytes:
        return self._public_der

    def sign(self, data: bytes) -> bytes:
        r, s = decode_dss_signature(self._key.sign(data, ec.ECDSA(hashes.SHA256())))
        return r.to_bytes(_COORD, "big") + s.to_bytes(_COORD, "big")


def is_key_vault_key_id(spec: str) -> bool:
    parsed = urlparse(spec)
    parts = [p for p in parsed.path.split("/") if p]
    return parsed.scheme == "https" and len(parts) in (2, 3) and parts[0] == "keys"


class KeyVaultSigner:
    """A non-exportable Key Vault EC P-256 key, used through `CryptographyClient.sign` (ES256).

    Only the SHA-256 digest leaves the process; Key Vault signs it with the key it never releases. The
    public half is read once (`keys/get` permission) so checkpoints can carry it for verification.
    `crypto_client` and `public_key` are injectable so the request shaping can be tested offline.
    """

    def __init__(
        self,
        key_id: str,
        *,
        credential: Any = None,
        crypto_client: Any = None,
        public_key: ec.EllipticCurvePublicKey | None = None,
    ) -> None:
        if not is_key_vault_key_id(key_id):
            raise SigningError(f"{key_id!r} is not a Key Vault key id (https://<vault>/keys/<name>/<version>)")
        self.key_id = key_id
        self._credential = credential
        self._crypto = crypto_client
        self._public = public_key
        self._public_der: bytes | None = _spki_der(public_key) if public_key is not None else None

    def _credential_or_default(self) -> Any:
        if self._credential is None:
            from azure.identity import DefaultAzureCredential

            self._credential = DefaultAzureCredential()
        return self._credential

    def _client(self) -> Any:
        if self._crypto is None:
            from azure.keyvault.keys.crypto import CryptographyClient

            self._crypto = CryptographyClient(self.key_id, self._credential_or_default())
        return self._crypto

    @property
    def public_key_der(self) -> bytes:
        if self._public_der is None:
            from azure.keyvault.keys import KeyClient

            parsed = urlparse(self.key_id)
            parts = [p for p in parsed.path.split("/") if p]
            vault = f"{parsed.scheme}://{parsed.netloc}"
            key = KeyClient(vault, self._credential_or_default()).get_key(
                parts[1], parts[2] if len(parts) > 2 else None
            )
            self._public_der = _spki_der(public_key_from_jwk(key.key))
        return self._public_der

    def sign(self, data: bytes) -> bytes:
        from azure.keyvault.keys.crypto import SignatureAlgorithm

        digest = hashlib.sha256(data).digest()
        result = self._client().sign(SignatureAlgorithm.es256, digest)
        if len(result.signature) != 2 * _COORD:
            raise SigningError(f"Key Vault returned a {len(result.signature)}-byte ES256 signature, expected 64")
        return bytes(result.signature)


def public_key_from_jwk(jwk: Any) -> ec.EllipticCurvePublicKey:
    """The public half of a Key Vault JsonWebKey (kty EC / EC-HSM, crv P-256)."""
    raw = getattr(jwk, "crv", None)
    crv = str(getattr(raw, "value", raw) or "")
    if crv != "P-256":
        raise SigningError(f"checkpoint keys must be EC P-256, the Key Vault key is {crv or 'not EC'}")
    x = int.from_bytes(bytes(jwk.x), "big")
    y = int.from_bytes(bytes(jwk.y), "big")
    return ec.EllipticCurvePublicNumbers(x, y, ec.SECP256R1()).public_key()


def load_signer(spec: str | None, *, credential: Any = None) -> Signer | None:
    """WARDEN_SIGNING_KEY: a Key Vault key id URL or a PEM file path; None means no checkpoints."""
    if not spec:
        return None
    if spec.startswith("https://"):
        return KeyVaultSigner(spec, credential=credential)
    return PemSigner.from_file(spec)


def verify_signature(public_key_der: bytes, data: bytes, signature: bytes) -> bool:
    """True when `signature` (raw r||s) is a valid ES256 signature of `data` by that P-256 key."""
    try:
        key = serialization.load_der_public_key(public_key_der)
    except ValueError:
        return False
    if not isinstance(key, ec.EllipticCurvePublicKey) or not isinstance(key.curve, ec.SECP256R1):
        return False
    if len(signature) != 2 * _COORD:
        return False
    der = encode_dss_signature(
        int.from_bytes(signature[:_COORD], "big"), int.from_bytes(signature[_COORD:], "big")
    )
    try:
        key.verify(der, data, ec.ECDSA(hashes.SHA256()))
    except InvalidSignature:
        return False
    return True


def key_fingerprint(spec: str, *, credential: Any = None) -> str:
    """The fingerprint to pin for WARDEN_SIGNING_KEY (deployment output, `audit verify --key-fingerprint`)."""
    signer = load_signer(spec, credential=credential)
    if signer is None:
        raise SigningError("no signing key given")
    return fingerprint(signer.public_key_der)
