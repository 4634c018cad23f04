"""Build a wheel that carries a bundle, so an app depends on a model like on any package.

The wheel ``salary_model-3-py3-none-any.whl`` installs the module
``salary_model`` with ``predict()``, ``predict_proba()`` and the bundle inside;
it needs mldeploy at run time but no registry. A new model version means a
new wheel and a new app build: simplicity bought with flexibility.
"""

from __future__ import annotations

import base64
import csv
import hashlib
import io
import re
import zipfile
from pathlib import Path

from mldeploy.bundle import Bundle, storage
from mldeploy.errors import ConfigError

__all__ = ["build_wheel", "module_name_for"]

_MODULE_TEMPLATE = '''"""The {name} model, version {version}, embedded by `mldeploy embed`.

Example::

    import {module}
    {module}.predict({{...}})        # one dict -> one value; a list or DataFrame -> an array
"""

import threading
from pathlib import Path

import mldeploy

REF = {ref!r}
VERSION = {version}
TRUSTED = {trusted!r}
# When set, the bundle must carry a valid signature by this key.
PUBLIC_KEY = {public_key!r}
_BUNDLE = Path(__file__).parent / "bundle"
_lock = threading.Lock()
_model = None


def model() -> "mldeploy.Model":
    """Return the embedded model, loading and verifying it once, on first use."""
    global _model
    with _lock:
        if _model is None:
            key = PUBLIC_KEY.encode() if PUBLIC_KEY else None
            _model = mldeploy.load(_BUNDLE, trusted=TRUSTED, public_key=key)
    return _model


def predict(data):
    """Predict for one dict, a list of dicts or a DataFrame."""
    return model().predict(data)


def predict_proba(data):
    """Return class probabilities (classifiers only)."""
    return model().predict_proba(data)
'''


def module_name_for(model_name: str) -> str:
    """Return the importable module name for a model: ``salary`` -> ``salary_model``."""
    return re.sub(r"[^A-Za-z0-9_]", "_", model_name).lower() + "_model"


def build_wheel(bundle: Bundle, out_dir: str | Path, trusted: tuple[str, ...] = (), public_key: bytes | None = None) -> Path:
    """Write ``<name>_model-<version>-py3-none-any.whl`` into ``out_dir`` and return its path.

    With ``public_key`` (PEM), the installed module refuses the bundle unless its
    signature checks out, so a wheel altered after the build won't load.
    """
    if bundle.version is None:
        raise ConfigError("embed a registered version (NAME@VERSION) so the wheel has a version number")
    module = module_name_for(bundle.name)
    files = _payload(bundle, module, tuple(trusted), public_key.decode() if public_key else None)
    dist_info = f"{module}-{bundle.version}.dist-info"
    files[f"{dist_info}/METADATA"] = _metadata(bundle, module).encode()
    files[f"{dist_info}/WHEEL"] = b"Wheel-Version: 1.0\nGenerator: mldeploy\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
    files[f"{dist_info}/top_level.txt"] = f"{module}\n".encode()
    files[f"{dist_info}/RECORD"] = _record(files, f"{dist_info}/RECORD").encode()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"{module}-{bundle.version}-py3-none-any.whl"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as wheel:
        for name, data in files.items():
            wheel.writestr(zipfile.ZipInfo(name, date_time=(2020, 1, 1, 0, 0, 0)), data, compress_type=zipfile.ZIP_DEFLATED)
    return path


def _payload(bundle: Bundle, module: str, trusted: tuple[str, ...], public_key: str | None) -> dict[str, bytes]:
    source = _MODULE_TEMPLATE.format(
        name=bundle.name, version=bundle.version, module=module, ref=str(bundle.ref), trusted=list(trusted), public_key=public_key
    )
    files = {f"{module}/__init__.py": source.encode()}
    # Only what the manifest vouches for: a stray file in the folder would make the bundle refuse to open.
    names = sorted(bundle.manifest.files) + [storage.MANIFEST] + ([storage.SIGNATURE] if bundle.signature else [])
    for name in names:
        files[f"{module}/bundle/{name}"] = (bundle.path / name).read_bytes()
    return files


def _metadata(bundle: Bundle, module: str) -> str:
    sklearn = bundle.manifest.libraries.get("scikit-learn", "")
    minor = ".".join(sklearn.split(".")[:2])
    # A compiled bundle needs the runtime of its compiled form, or it falls back to scikit-learn's speed.
    compiled = bundle.manifest.compiled_info.is_compiled
    requires = ["Requires-Python: >=3.10", f"Requires-Dist: mldeploy{'[onnx]' if compiled else ''}>=0.1"]
    if minor and sklearn != "unknown":
        requires.append(f"Requires-Dist: scikit-learn=={minor}.*")
    return "\n".join([
        "Metadata-Version: 2.1", f"Name: {module}", f"Version: {bundle.version}",
        f"Summary: The {bundle.name} model (version {bundle.version}) embedded by mldeploy",
        *requires, "",
    ])


def _record(files: dict[str, bytes], record_name: str) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    for name, data in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        writer.writerow([name, f"sha256={digest}", len(data)])
    writer.writerow([record_name, "", ""])
    return out.getvalue()
