"""Sign the registry's record of a version, so that a signed version cannot be renumbered.

A bundle's own signature leaves out what the registry assigns (its version and
parent), so someone who can write the database could serve signed v2 as v3.
With a signing key at registration the registry also signs the triple
(name, version, manifest digest); the digest pins every file and the manifest,
which holds the version. Readers with a public key verify that triple.
"""

from __future__ import annotations

import json
from pathlib import Path

from mldeploy.bundle import signing
from mldeploy.errors import BundleError
from mldeploy.registry.records import VersionRecord

__all__ = ["public_key_object", "record_bytes", "sign_record", "verify_record"]

_PURPOSE = "mldeploy registry record v1"  # keeps these signatures from passing as any other signed bytes


def record_bytes(name: str, version: int, digest: str) -> bytes:
    """Return the exact bytes a record signature covers."""
    payload = {"purpose": _PURPOSE, "name": name, "version": version, "digest": digest}
    return json.dumps(payload, sort_keys=True, separators=(",", ":")).encode()


def sign_record(name: str, version: int, digest: str, private_key) -> bytes:
    """Sign one record with an Ed25519 private key (object, PEM bytes or path)."""
    key = signing.load_private_key(private_key) if isinstance(private_key, (bytes, str, Path)) else private_key
    return signing.sign(record_bytes(name, version, digest), key)


def public_key_object(public_key):
    """Return a loaded Ed25519 public key from an object, PEM bytes or a path (ConfigError if it is none)."""
    return signing.load_public_key(public_key) if isinstance(public_key, (bytes, str, Path)) else public_key


def verify_record(record: VersionRecord, public_key) -> None:
    """Raise BundleError unless the record carries a valid signature by ``public_key`` (a loaded key)."""
    from cryptography.exceptions import InvalidSignature

    ref = f"{record.name}@{record.version}"
    if record.record_signature is None:
        raise BundleError(
            f"the registry's record of {ref} is not signed, and a public key is set: register it with a "
            "signing key (Registry.register(bundle, sign_with=key)) or read it without the public key"
        )
    try:
        public_key.verify(record.record_signature, record_bytes(record.name, record.version, record.digest))
    except InvalidSignature as exc:
        raise BundleError(
            f"the registry's record signature does not match {ref}: another key signed it, or its name, "
            "version or digest was changed in the database after signing; refusing it"
        ) from exc
