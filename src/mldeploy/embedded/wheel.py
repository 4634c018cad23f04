"""Build a wheel that carries a bundle, so an app depends on a model like on any package.

The wheel ``salary_model-3-py3-none-any.whl`` installs the module
``salary_model`` with ``predict()``, ``predict_proba()`` and the bundle inside;
it needs mldeploy at run time but no registry. A new model version means a
new wheel and a new app build: simplicity bought with flexibility.
"""

from __future__ import annotations

import base64
import hashlib
import re
import zipfile
from pathlib import Path

from mldeploy.bundle import Bundle
from mldeploy.errors import ConfigError

__all__ = ["build_wheel", "module_name_for"]

_MODULE_TEMPLATE = '''"""The {name} model, version {version}, embedded by `mldeploy embed`.

Example::

    import {module}
    {module}.predict({{...}})        # one dict -> one value; a list or DataFrame -> an array
"""

from pathlib import Path

import mldeploy

REF = "{ref}"
VERSION = {version}
TRUSTED = {trusted!r}
_BUNDLE = Path(__file__).parent / "bundle"
_model = None


def model() -> "mldeploy.Model":
    """Return the embedded model, loading and verifying it on first use."""
    global _model
    if _model is None:
        _model = mldeploy.load(_BUNDLE, trusted=TRUSTED)
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


def build_wheel(bundle: Bundle, out_dir: str | Path, trusted: tuple[str, ...] = ()) -> Path:
    """Write ``<name>_model-<version>-py3-none-any.whl`` into ``out_dir`` and return its path."""
    if bundle.version is None:
        raise ConfigError("embed a registered version (NAME@VERSION) so the wheel has a version number")
    module = module_name_for(bundle.name)
    files = _payload(bundle, module, tuple(trusted))
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


def _payload(bundle: Bundle, module: str, trusted: tuple[str, ...]) -> dict[str, bytes]:
    source = _MODULE_TEMPLATE.format(name=bundle.name, version=bundle.version, module=module, ref=bundle.ref, trusted=list(trusted))
    files = {f"{module}/__init__.py": source.encode()}
    for path in sorted(p for p in bundle.path.rglob("*") if p.is_file()):
        files[f"{module}/bundle/{path.relative_to(bundle.path).as_posix()}"] = path.read_bytes()
    return files


def _metadata(bundle: Bundle, module: str) -> str:
    sklearn = bundle.manifest.libraries.get("scikit-learn", "")
    minor = ".".join(sklearn.split(".")[:2])
    requires = ["Requires-Dist: mldeploy>=0.1"]
    if minor and sklearn != "unknown":
        requires.append(f"Requires-Dist: scikit-learn=={minor}.*")
    return "\n".join([
        "Metadata-Version: 2.1", f"Name: {module}", f"Version: {bundle.version}",
        f"Summary: The {bundle.name} model (version {bundle.version}) embedded by mldeploy",
        *requires, "",
    ])


def _record(files: dict[str, bytes], record_name: str) -> str:
    lines = []
    for name, data in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        lines.append(f"{name},sha256={digest},{len(data)}")
    lines.append(f"{record_name},,")
    return "\n".join(lines) + "\n"
