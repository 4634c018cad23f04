"""Decide whether a loaded model predicts with its compiled form, re-verifying it where needed."""

from __future__ import annotations

import warnings
from collections.abc import Callable

from mldeploy.bundle import Bundle
from mldeploy.bundle.manifest import library_versions
from mldeploy.errors import CompiledFallbackWarning, MissingExtraError

__all__ = ["load_compiled"]

# A change in any of these can change floating-point results or private scikit-learn attributes.
_CHECKED = ("scikit-learn", "numpy", "machine", "mldeploy")


def load_compiled(bundle: Bundle, load_pipeline: Callable[[], object], force_verify: bool = False):
    """Return (compiled pipeline or None, why) for a bundle.

    ``load_pipeline`` returns the scikit-learn pipeline; it is called only when the
    compiled form must be verified again here (a library or the machine changed).
    """
    info = bundle.manifest.compiled_info
    if not info.is_compiled:
        return None, info.reason or "the bundle has no compiled form"
    try:
        from mldeploy.compiled import CompiledPipeline, verify

        # digest-checked bytes, as read; a walker the bundle was verified with comes first
        compiled = CompiledPipeline.load(bundle.path, read=bundle.read_file, proven=info.engines)
    except (ValueError, OSError, MissingExtraError) as exc:
        return _fallback(bundle, f"the compiled form cannot be loaded here: {exc}")
    changed = [name for name in _CHECKED if bundle.manifest.libraries.get(name) != library_versions().get(name)]
    if info.engines and compiled.engine not in info.engines:
        changed.append(f"the {compiled.engine} engine")  # e.g. no walker runs here: the graph serves
    if changed or force_verify:
        report = verify(compiled, load_pipeline(), bundle.sample())
        if not report.ok:
            return _fallback(bundle, f"re-verification failed ({', '.join(changed) or 'forced'} changed): {report.summary()}")
        return compiled, f"compiled; re-verified here because {', '.join(changed) or 'asked'}: {report.summary()}"
    return compiled, f"compiled and verified when the bundle was made: {info.verified}"


def _fallback(bundle: Bundle, reason: str):
    warnings.warn(f"{bundle.ref}: {reason}; predicting with scikit-learn instead", CompiledFallbackWarning, stacklevel=4)
    return None, reason
