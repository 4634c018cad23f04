"""How the command line answers each mldeploy error: an exit code and a hint in its own terms.

The core's messages speak of ``trusted=`` and ``allow_version_mismatch``; on
the command line the same advice is a flag, so this edge adds it. Input
errors exit 2, failures of other systems (and of the pipeline itself) exit 1.
"""

from __future__ import annotations

from mldeploy import errors as e

__all__ = ["EXIT_CODES", "exit_code", "hint_for"]

EXIT_CODES: dict[type[e.MldeployError], int] = {
    e.MldeployError: 1,
    e.BundleError: 2,
    e.UntrustedTypesError: 2,
    e.VersionMismatchError: 2,
    e.SchemaError: 2,
    e.RegistryError: 2,
    e.NotFoundError: 2,
    e.AliasConflictError: 2,
    e.ConfigError: 2,
    e.BadReferenceError: 2,
    e.RunBusyError: 2,
    e.UnsupportedError: 2,
    e.PredictionError: 1,
    e.NotReadyError: 1,
    e.MissingExtraError: 1,
    e.BackendError: 1,
}
"""Exit code per error class; a class not listed answers as its nearest listed base."""


def exit_code(exc: e.MldeployError) -> int:
    """Return the exit code of the nearest class of ``exc`` in :data:`EXIT_CODES`."""
    return e.answer_for(exc, EXIT_CODES, 1)


def hint_for(exc: e.MldeployError) -> str | None:
    """Return the command-line form of the core's advice, if the error has one."""
    if isinstance(exc, e.UntrustedTypesError) and exc.types:
        return "if you know this code, rerun with " + " ".join(f"--trust {name}" for name in exc.types)
    if isinstance(exc, e.VersionMismatchError):
        return "or rerun with --force to load it anyway"
    if isinstance(exc, e.AliasConflictError):
        return "or rerun with --force to delete it and its aliases"
    if isinstance(exc, e.SchemaError) and 'extra="ignore"' in exc.hint:
        return "on the command line, --ignore-extra ignores unknown fields"
    return None
