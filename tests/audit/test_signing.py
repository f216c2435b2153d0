"""ES256 signers: the PEM signer, the Key Vault signer's request shaping, fingerprints."""

from __future__ import annotations

import hashlib
import subprocess
from pathlib import Path

import pytest
from azure.keyvault.keys import JsonWebKey
from azure.keyvault.keys.crypto import CryptographyClient
from cryptography.hazmat.primitives.asymmetric import ec

from remediators.audit.signing import (
    KeyVaultSigner,
    PemSigner,
    SigningError,
    fingerprint,
    key_fingerprint,
    load_signer,
    public_key_from_jwk,
    verify_signature,
)

from .conftest import write_key

KEY_ID = "https://warden-kv.vault.azure.net/keys/audit-checkpoints/0123456789abcdef0123456789abcdef"


def test_pem_signer_produces_raw_es256_signatures(signing_key: Path) -> None:
    signer = PemSigner.from_file(signing_key)
    sig = signer.sign(b"checkpoint payload")
    assert len(sig) == 64
    assert verify_signature(signer.public_key_der, b"checkpoint payload", sig)
    assert not verify_signature(signer.public_key_der, b"checkpoint payload!", sig)
    assert not verify_signature(signer.public_key_der, b"checkpoint payload", sig[:-1] + bytes([sig[-1] ^ 1]))


def test_fingerprint_matches_openssl(signing_key: Path) -> None:
    """The fingerprint an operator computes with openssl from the PEM is the one verify expects."""
    der = subprocess.run(["openssl", "pkey", "-in", str(signing_key), "-pubout", "-outform", "DER"],
                         check=True, capture_output=True).stdout
    assert fingerprint(PemSigner.from_file(signing_key).public_key_der) == hashlib.sha256(der).hexdigest()
    assert key_fingerprint(str(signing_key)) == hashlib.sha256(der).hexdigest()


def test_only_p256_keys_sign_checkpoints(tmp_path: Path) -> None:
    with pytest.raises(SigningError, match="P-256"):
        PemSigner.from_file(write_key(tmp_path / "p384.pem", ec.SECP384R1()))


def _jwk(key: ec.EllipticCurvePrivateKey, crv: str = "P-256", size: int = 32) -> JsonWebKey:
    priv = key.private_numbers()
    pub = priv.public_numbers
    return JsonWebKey(kid=KEY_ID, kty="EC", crv=crv, x=pub.x.to_bytes(size, "big"), y=pub.y.to_bytes(size, "big"),
                      d=priv.private_value.to_bytes(size, "big"), key_ops=["sign", "verify"])


def test_key_vault_signer_sends_an_es256_digest_and_returns_jose_signatures() -> None:
    """Key Vault itself cannot be reached offline; the SDK's CryptographyClient signing locally from a JWK
    returns the same shape (RFC 7518 r||s) as the service, so the signer's use of it is checked for real."""
    key = ec.generate_private_key(ec.SECP256R1())
    jwk = _jwk(key)
    signer = KeyVaultSigner(KEY_ID, crypto_client=CryptographyClient.from_jwk(jwk),
                            public_key=public_key_from_jwk(jwk))
    sig = signer.sign(b"payload")
    assert verify_signature(signer.public_key_der, b"payload", sig)
    assert signer.public_key_der == PemSigner(key).public_key_der


def test_key_vault_keys_must_be_p256() -> None:
    with pytest.raises(SigningError, match="P-256"):
        public_key_from_jwk(_jwk(ec.generate_private_key(ec.SECP384R1()), crv="P-384", size=48))


def test_load_signer_chooses_by_spec(signing_key: Path) -> None:
    assert load_signer(None) is None
    assert isinstance(load_signer(str(signing_key)), PemSigner)
    kv = load_signer(KEY_ID, credential=object())
    assert isinstance(kv, KeyVaultSigner) and kv.key_id == KEY_ID
    with pytest.raises(SigningError):
        load_signer("https://warden-kv.vault.azure.net/secrets/not-a-key/1")
