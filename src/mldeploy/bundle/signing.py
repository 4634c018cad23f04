"""Sign a bundle's manifest with Ed25519 and check the signature."""

from __future__ import annotations

from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from mldeploy.errors import BundleError, ConfigError

__all__ = ["generate_keypair", "load_private_key", "load_public_key", "sign", "verify_signature"]


def generate_keypair() -> tuple[bytes, bytes]:
    """Return a new (private, public) key pair as PEM bytes."""
    private = Ed25519PrivateKey.generate()
    private_pem = private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    public_pem = private.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    return private_pem, public_pem


def load_private_key(key: bytes | str | Path) -> Ed25519PrivateKey:
    """Read an Ed25519 private key from PEM bytes or a PEM file path."""
    loaded = serialization.load_pem_private_key(_pem(key), password=None)
    if not isinstance(loaded, Ed25519PrivateKey):
        raise ConfigError("the signing key is not an Ed25519 private key; make one with `mldeploy keygen`")
    return loaded


def load_public_key(key: bytes | str | Path) -> Ed25519PublicKey:
    """Read an Ed25519 public key from PEM bytes or a PEM file path."""
    loaded = serialization.load_pem_public_key(_pem(key))
    if not isinstance(loaded, Ed25519PublicKey):
        raise ConfigError("the verification key is not an Ed25519 public key; use the .pub file from `mldeploy keygen`")
    return loaded


def sign(manifest_bytes: bytes, private_key: Ed25519PrivateKey) -> bytes:
    """Return the signature of the manifest's exact bytes."""
    return private_key.sign(manifest_bytes)


def verify_signature(manifest_bytes: bytes, signature: bytes | None, public_key: Ed25519PublicKey) -> None:
    """Raise BundleError unless ``signature`` is a valid signature of the manifest."""
    if signature is None:
        raise BundleError("bundle is not signed but a public key is configured; sign it with `mldeploy sign` or drop the key")
    try:
        public_key.verify(signature, manifest_bytes)
    except InvalidSignature as exc:
        raise BundleError("bundle signature does not match its manifest: the bundle was changed or signed with another key") from exc


def _pem(key: bytes | str | Path) -> bytes:
    if isinstance(key, bytes):
        return key
    path = Path(key)
    try:
        return path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read key file {path}: {exc.strerror}") from exc
