"""The exception tree every part of mldeploy raises.

::

    MldeployError
      BundleError            corrupt archive, digest mismatch, bad signature
        UntrustedTypesError  the pipeline holds types the loader does not trust; .types lists all
        VersionMismatchError made with another major version of a library; .library, .made_with, .installed
      SchemaError            bad input rows (also ValueError); keeps every issue
      RegistryError          registry cannot be opened or changed
        NotFoundError        unknown name, version or alias (also LookupError)
        AliasConflictError   a version an alias points to cannot be deleted
      ConfigError            bad option, flag, environment variable or file value
        BadReferenceError    text that is not a model reference
        RunBusyError         a batch run another process is writing right now (--resume)
      UnsupportedError       the call does not apply to this model (predict_proba on a regressor)
      PredictionError        the pipeline or its compiled form failed on valid input; cause chained
      NotReadyError          a live model that has no good version yet
      MissingExtraError      optional dependency absent (also ImportError)
      BackendError           database, broker or HTTP failure, cause chained

    BundleVersionWarning   bundle made with another scikit-learn version
    CompiledFallbackWarning the compiled form is off for a bundle; scikit-learn predicts

The core knows no HTTP status or exit code: each edge maps these classes in
one table (``cli/errors.py``, ``api/errors.py``, ``stream/scoring.py``) and adds
its own hint; :func:`answer_for` looks an error up in such a table.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TypeVar

__all__ = [
    "AliasConflictError",
    "BackendError",
    "BadReferenceError",
    "BundleError",
    "BundleVersionWarning",
    "CompiledFallbackWarning",
    "ConfigError",
    "Issue",
    "MissingExtraError",
    "MldeployError",
    "NotFoundError",
    "NotReadyError",
    "PredictionError",
    "RunBusyError",
    "RegistryError",
    "SchemaError",
    "UnsupportedError",
    "UntrustedTypesError",
    "VersionMismatchError",
]

_Answer = TypeVar("_Answer")

_SHOWN_ISSUES = 5
_SHORT_CHARS = 60
_FIELD_CHARS = 200


def shorten(text, limit: int = _SHORT_CHARS) -> str:
    """Return ``text`` as a message may show it: cut short when long (a name from the input can be 1 MB)."""
    text = str(text)
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text)} characters)"


class MldeployError(Exception):
    """Base class of every error mldeploy raises on purpose."""


class BundleError(MldeployError):
    """A bundle is corrupt, tampered with, untrusted or incompatible."""


class UntrustedTypesError(BundleError):
    """A pipeline holds types the loader does not trust; ``types`` lists every one of them."""

    def __init__(self, message: str, types: list[str] | tuple[str, ...] = ()):
        self.types = tuple(types)
        super().__init__(message)

    def __reduce__(self):
        return (UntrustedTypesError, (str(self), self.types))


class VersionMismatchError(BundleError):
    """A bundle was made with another major version of a library it needs."""

    def __init__(self, message: str, library: str = "", made_with: str = "", installed: str = ""):
        self.library, self.made_with, self.installed = library, made_with, installed
        super().__init__(message)

    def __reduce__(self):
        return (VersionMismatchError, (str(self), self.library, self.made_with, self.installed))


class RegistryError(MldeployError):
    """The registry cannot be opened, read or changed."""


class NotFoundError(RegistryError, LookupError):
    """A name, version or alias that the registry does not hold."""


class AliasConflictError(RegistryError):
    """A change that would leave an alias pointing at nothing."""


class ConfigError(MldeployError):
    """A configuration value (flag, environment variable, file) is invalid."""


class BadReferenceError(ConfigError):
    """Text that is not a model reference (``name``, ``name@version``, ``name:alias``)."""


class RunBusyError(ConfigError):
    """A batch run that another process is writing right now: it cannot be resumed until that one ends."""


class UnsupportedError(MldeployError):
    """A call that does not apply to this model, e.g. ``predict_proba`` on a regressor."""


class PredictionError(MldeployError):
    """The pipeline or its compiled form failed on input that passed validation; the cause is chained."""


class NotReadyError(MldeployError):
    """A live model asked to predict before any version passed its checks."""


class MissingExtraError(MldeployError, ImportError):
    """An optional dependency is not installed; the message names the extra."""


class BackendError(MldeployError):
    """An external system (database, broker, server) failed; the cause is chained."""


class BundleVersionWarning(UserWarning):
    """A bundle was made with another minor version of a library it needs."""


class CompiledFallbackWarning(UserWarning):
    """A bundle's compiled form cannot be used here; predictions come from scikit-learn."""


@dataclass(frozen=True)
class Issue:
    """One bad field of one row.

    ``row`` is the 0-based position of the row in the input, or ``None`` when
    the issue concerns the whole input (a missing column).
    """

    row: int | None
    field: str
    expected: str
    got: str

    def describe(self) -> str:
        """Return the one-line wording shared by every entry point."""
        name = shorten(self.field, _FIELD_CHARS)  # validators cut names already; an Issue built elsewhere may not
        where = f'field "{name}"' if self.row is None else f'row {self.row}, field "{name}"'
        return f"{where}: expected {self.expected}, got {self.got}"

    def to_dict(self) -> dict:
        """Return the issue as plain JSON-ready data."""
        return {"row": self.row, "field": self.field, "expected": self.expected, "got": self.got}


class SchemaError(MldeployError, ValueError):
    """Input rows that do not match a bundle's schema.

    ``issues`` holds every bad field of every bad row; the message shows the
    first few and says how many more there are. A validator told to stop
    building issues at a limit keeps only the first ones and counts them all:
    ``total`` is then that count (None when ``issues`` holds every one).
    """

    def __init__(self, issues: list[Issue], hint: str = "fix the values or retrain with data like them",
                 total: int | None = None):
        self.issues = list(issues)
        self.hint = hint
        self.total = total if total is not None and total > len(self.issues) else None
        super().__init__(self._format())

    @property
    def is_truncated(self) -> bool:
        """True when ``issues`` lists only the first of the input's issues (``total`` counts them all)."""
        return self.total is not None

    def _format(self) -> str:
        shown = "; ".join(issue.describe() for issue in self.issues[:_SHOWN_ISSUES])
        rows = {issue.row for issue in self.issues if issue.row is not None}
        count = self.total if self.total is not None else len(self.issues)
        more = count - _SHOWN_ISSUES
        tail = f"; and {more} more" if more > 0 else ""
        if self.total is not None:
            head = f"{count} bad field(s), the first {len(self.issues)} kept (in {len(rows)} row(s))"
        else:
            head = f"{count} bad field(s)" + (f" in {len(rows)} row(s)" if rows else "")
        return f"{head}: {shown}{tail}; {self.hint}"

    def __reduce__(self):
        return (SchemaError, (self.issues, self.hint, self.total))


def answer_for(error: BaseException, table: Mapping[type, _Answer], default: _Answer) -> _Answer:
    """Return the entry of ``error``'s nearest class in ``table`` (its own class first, then up its MRO), else ``default``.

    Each edge keeps its own table from error class to its answer (an HTTP status, an exit
    code, a dead-letter reason); this is the one lookup they share.
    """
    for cls in type(error).__mro__:
        if cls in table:
            return table[cls]
    return default
