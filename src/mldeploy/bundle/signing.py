"""Sign a bundle's manifest with Ed25519 and check the signature."""

from __future__ import annotations

from pathlib import Path

from mldeploy.errors import BundleError, ConfigError

# cryptography is imported inside each function: only signed bundles pay for it.

__all__ = ["generate_keypair", "load_private_key", "load_public_key", "sign", "verify_signature"]


def generate_keypair() -> tuple[bytes, bytes]:
    """Return a new (private, public) key pair as PEM bytes."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    private = Ed25519PrivateKey.generate()
    private_pem = private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    public_pem = private.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    return private_pem, public_pem


def load_private_key(key: bytes | str | Path):
    """Read an Ed25519 private key from PEM bytes or a PEM file path."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    try:
        loaded = serialization.load_pem_private_key(_pem(key), password=None)
    except (ValueError, TypeError) as exc:
        raise ConfigError(f"the signing key is not a readable PEM private key ({exc}); make one with `mldeploy keygen`") from exc
    if not isinstance(loaded, Ed25519PrivateKey):
        raise ConfigError("the signing key is not an Ed25519 private key; make one with `mldeploy keygen`")
    return loaded


def load_public_key(key: bytes | str | Path):
    """Read an Ed25519 public key from PEM bytes or a PEM file path."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    try:
        loaded = serialization.load_pem_public_key(_pem(key))
    except (ValueError, TypeError) as exc:
        raise ConfigError(f"the verification key is not a readable PEM public key ({exc}); use the .pub file from `mldeploy keygen`") from exc
    if not isinstance(loaded, Ed25519PublicKey):
        raise ConfigError("the verification key is not an Ed25519 public key; use the .pub file from `mldeploy keygen`")
    return loaded


def sign(manifest_bytes: bytes, private_key) -> bytes:
    """Return the signature of the manifest's exact bytes."""
    return private_key.sign(manifest_bytes)


def verify_signature(manifest_bytes: bytes, signature: bytes | None, public_key) -> None:
    """Raise BundleError unless ``signature`` is a valid signature of the manifest."""
    from cryptography.exceptions import InvalidSignature

    if signature is None:
        raise BundleError(
            "bundle is not signed but a public key is configured; sign it when you make it "
            "(`mldeploy train --sign-key`, Bundle.sign) or drop the key"
        )
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
