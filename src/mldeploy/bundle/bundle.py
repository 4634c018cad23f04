"""Bundle: one immutable, verified pipeline version in a folder.

Opening a bundle checks the manifest, every file's digest and (when a public
key is given) the signature; the pipeline itself is only deserialised, with
skops and an explicit list of trusted types, when :meth:`Bundle.load_pipeline`
is called.
"""

from __future__ import annotations

import shutil
import tempfile
import warnings
import weakref
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

import pandas as pd

from mldeploy._literal_parsing import PARSING_LITERALS
from mldeploy.bundle import archive, signing, storage
from mldeploy.bundle.digest import bytes_digest
from mldeploy.bundle.manifest import Manifest, library_versions
from mldeploy.bundle.ref import BundleRef
from mldeploy.bundle.schema import Schema
from mldeploy.bundle.trust import check_trusted
from mldeploy.errors import BundleError, BundleVersionWarning, ConfigError, VersionMismatchError

__all__ = ["Bundle"]


class Bundle:
    """A pipeline version with its schema and manifest, verified on disk."""

    def __init__(self, path: Path, manifest: Manifest, schema: Schema, signature: bytes | None):
        self.path = Path(path)
        self.manifest = manifest
        self.schema = schema
        self.signature = signature

    @classmethod
    def open(cls, path: str | Path, public_key=None) -> "Bundle":
        """Open a bundle folder, verifying digests and, with ``public_key``, the signature."""
        return cls._open(Path(path), _public_key(public_key), check_digests=True)

    @classmethod
    def _open(cls, path: Path, key, check_digests: bool) -> "Bundle":
        manifest, signature = storage.read_verified(path, check_digests)
        if key is not None:
            signing.verify_signature(manifest.signed_bytes(), signature, key)
        schema = Schema.from_dict(storage.read_json(path, manifest, storage.SCHEMA))
        return cls(path, manifest, schema, signature)

    @classmethod
    def from_archive(cls, data: bytes | BinaryIO, directory: str | Path | None = None, public_key=None) -> "Bundle":
        """Unpack and open an archive made by :meth:`to_archive`, bytes or a stream (into a temporary folder by default).

        On any failure nothing unpacked is left behind.
        """
        key = _public_key(public_key)  # a bad key fails before anything is written
        target = Path(directory) if directory is not None else Path(tempfile.mkdtemp(prefix="mldeploy-bundle-"))
        try:
            archive.unpack(data, target)
            # unpack() checked every file against the manifest as it wrote it; a folder of our own
            # making holds nothing else, so hashing it all again (50 MB: 0.1 s) would prove nothing.
            bundle = cls._open(target, key, check_digests=directory is not None)
        except BaseException:
            shutil.rmtree(target, ignore_errors=True)
            raise
        if directory is None:
            weakref.finalize(bundle, shutil.rmtree, target, True)
        return bundle

    @classmethod
    def from_pipeline(cls, pipeline, sample: pd.DataFrame, name: str, signing_key=None,
                      directory: str | Path | None = None, **options) -> "Bundle":
        """Make a bundle of a fitted pipeline, signed with ``signing_key`` if given.

        Without ``directory`` the bundle lives in a temporary folder until it is registered
        or copied. See :func:`mldeploy.bundle.build.write_bundle` for the other options.
        """
        from mldeploy.bundle.build import write_bundle

        target, manifest, schema = write_bundle(pipeline, sample, name, directory=directory, **options)
        bundle = cls(target, manifest, schema, None)
        if directory is None:
            weakref.finalize(bundle, shutil.rmtree, target, True)
        return bundle.sign(signing_key) if signing_key is not None else bundle

    @property
    def name(self) -> str:
        """The model name."""
        return self.manifest.name

    @property
    def version(self) -> int | None:
        """The registry version, or None before the bundle is registered."""
        return self.manifest.version

    @property
    def ref(self) -> BundleRef:
        """``name@version`` of this bundle."""
        return BundleRef(self.name, self.version)

    @property
    def digest(self) -> str:
        """SHA-256 of the manifest, which pins every file's digest."""
        return bytes_digest(self.manifest.to_bytes())

    def to_archive(self, compress: bool = True) -> bytes:
        """Return the bundle as one archive, for a file, a message or a database row (gzip unless ``compress=False``)."""
        return archive.pack(self.path, compress)

    def copy_to(self, directory: str | Path, version: int | None = None, parent: str | None = None) -> "Bundle":
        """Copy the bundle into ``directory``, optionally numbering it (the registry does)."""
        directory = Path(directory)
        shutil.copytree(self.path, directory)
        manifest = self.manifest if version is None else self.manifest.with_version(version, parent)
        storage.write_manifest(directory, manifest, self.signature)
        return Bundle(directory, manifest, self.schema, self.signature)

    def sign(self, private_key) -> "Bundle":
        """Sign the manifest in place with an Ed25519 private key (object, PEM bytes or path)."""
        key = private_key if not isinstance(private_key, (bytes, str, Path)) else signing.load_private_key(private_key)
        self.signature = signing.sign(self.manifest.signed_bytes(), key)
        storage.write_manifest(self.path, self.manifest, self.signature)
        return self

    def verify_signature(self, public_key) -> None:
        """Check the signature over the manifest, which pins every file's digest; BundleError if it fails."""
        key = _public_key(public_key)
        if key is None:
            raise ConfigError("checking a signature needs a public key (an Ed25519 key object, PEM bytes or a .pem path)")
        signing.verify_signature(self.manifest.signed_bytes(), self.signature, key)

    def read_file(self, name: str) -> bytes:
        """Return one of the bundle's files, checking the very bytes returned against the manifest's digest."""
        return storage.read_checked(self.path, self.manifest, name)

    def load_pipeline(self, trusted=(), allow_version_mismatch: bool = False):
        """Deserialise the pipeline with skops, trusting only safe defaults plus ``trusted``.

        The bytes deserialised are the bytes whose digest was checked, read once.
        """
        return self.pipeline_loader(trusted, allow_version_mismatch)()

    def pipeline_loader(self, trusted=(), allow_version_mismatch: bool = False) -> Callable[[], object]:
        """Check the pipeline now (library versions, the file's digest); return a function that deserialises it.

        The check fails here, at once; the deserialisation (skops, the trust check, scikit-learn's
        import: about a second) waits for the call. The function deserialises the bytes checked now.
        """
        self.check_library_versions(allow_version_mismatch)
        data = self.read_file(storage.PIPELINE)

        def load():
            import skops.io

            try:
                with PARSING_LITERALS:
                    allowed = check_trusted(skops.io.get_untrusted_types(data=data), trusted)
                    return skops.io.loads(data, trusted=allowed)
            except BundleError:
                raise
            except Exception as exc:  # skops raises many types on a bad file; all mean the same to the user
                raise BundleError(f"cannot load the pipeline of {self.ref}: {exc}") from exc

        return load

    def sample(self) -> pd.DataFrame:
        """Return the rows of training data kept in the bundle, in training dtypes."""
        rows = storage.read_json(self.path, self.manifest, storage.SAMPLE).get("rows")
        if not isinstance(rows, list):
            raise BundleError(f"{storage.SAMPLE} of {self.ref} holds no rows; the bundle is corrupt")
        frame = pd.DataFrame.from_records(rows, columns=self.schema.names)
        return frame.astype({f.name: f.dtype for f in self.schema.fields if not frame[f.name].isna().any()})

    def profile(self) -> dict:
        """Return the reference profile of the training data."""
        return storage.read_json(self.path, self.manifest, storage.PROFILE)

    def check_library_versions(self, allow_mismatch: bool = False) -> None:
        """Refuse a bundle made with another major scikit-learn (unless ``allow_mismatch``); warn on a minor change.

        Reads the installed version from package metadata, so nothing of scikit-learn is imported.
        """
        installed = library_versions()["scikit-learn"]
        made_with = self.manifest.libraries.get("scikit-learn", "unknown")
        if made_with in ("unknown", installed):
            return
        if made_with.split(".")[0] != installed.split(".")[0] and not allow_mismatch:
            raise VersionMismatchError(
                f"{self.ref} was made with scikit-learn {made_with} but {installed} is installed; "
                "retrain it, install the matching version, or load with allow_version_mismatch=True",
                "scikit-learn", made_with, installed,
            )
        warnings.warn(
            f"{self.ref} was made with scikit-learn {made_with} and is loaded with {installed}; "
            "predictions may differ: retrain or check them",
            BundleVersionWarning,
            stacklevel=4,
        )

    def __repr__(self) -> str:
        return f"Bundle({self.ref}, task={self.manifest.task!r}, path={str(self.path)!r})"


def _public_key(public_key):
    """Return a loaded public key (from an object, PEM bytes or a path), or None."""
    if public_key is None or not isinstance(public_key, (bytes, str, Path)):
        return public_key
    return signing.load_public_key(public_key)
