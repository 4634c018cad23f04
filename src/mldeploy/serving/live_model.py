"""LiveModel: a model that follows a source and swaps in each new version once it passes every check.

The only code in mldeploy that swaps versions at run time; the API server
(also with ``serve --from``), the stream subscriber and the streaming scorer
use it. A batch run does not: it resolves one version at its start and scores
every chunk with that :class:`Model`; continuous training reaches servers by
moving an alias they follow.

A version offered by the source is fetched and checked in a background
thread, in this order, each check named when it fails: ``fetch``,
``signature``, ``load``, ``compatibility`` (see
:mod:`mldeploy.serving.compatibility`), ``smoke`` (a prediction on the
bundle's own sample rows). Only then does it replace the serving version, in
one assignment: a prediction already under way finishes on the version it
started with, and its result names that version. A refused version never
serves; the one before it keeps serving.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from mldeploy.bundle import BundleRef
from mldeploy.bundle.options import Extra, Missing
from mldeploy.errors import ConfigError, MldeployError, NotReadyError
from mldeploy.serving._swap_checks import Refused, check_candidate
from mldeploy.serving._threads import check_threads
from mldeploy.serving._version_cache import VersionCache
from mldeploy.serving.frozen_heap import freeze_heap
from mldeploy.serving.model import Model, Prepared, Refuse
from mldeploy.serving.result import Accepted, Prediction
from mldeploy.serving.model_source import Candidate, ModelSource

__all__ = ["LiveModel", "SwapEvent"]

log = logging.getLogger("mldeploy.live")

_RETRY_AFTER_ERROR_S = 1.0


@dataclass(frozen=True)
class SwapEvent:
    """A version the LiveModel swapped in (``accepted``) or refused, with the check that failed and why."""

    ref: BundleRef
    accepted: bool
    previous: BundleRef | None
    check: str | None = None
    """``fetch``, ``signature``, ``load``, ``compatibility`` or ``smoke`` when refused."""
    reason: str | None = None
    at: float = field(default_factory=time.time)

    def describe(self) -> str:
        """One line for a log or a terminal."""
        if self.accepted:
            return f"{self.ref} is serving" + (f" (was {self.previous})" if self.previous else "")
        return f"{self.ref} refused at the {self.check} check: {self.reason}"


class LiveModel:
    """Serve the newest good version a source names, swapping atomically.

    Example::

        live = LiveModel(RegistrySource("./.mldeploy", "salary:production"))
        live.wait_ready(30)
        live.predict({"years_experience": 4, ...})
        live.on_swap(lambda event: print(event.describe()))

    ``pin`` holds one version number; ``public_key`` and ``require_signed``
    refuse versions not signed by that key; ``allow_incompatible`` lets a schema
    change through; ``cache_dir`` keeps the last good version so a restart serves
    it before the source answers. ``freeze_heap`` freezes the garbage collector's
    generations after each swap (see :mod:`mldeploy.serving.frozen_heap`): for a
    process that exists to serve, as the API server; it changes how the whole
    process collects, so it is off by default. ``threads`` is each version's
    :class:`Model` setting.
    """

    def __init__(self, source: ModelSource, *, pin: int | None = None, trusted=(), public_key=None, require_signed: bool = False,
                 allow_incompatible: bool = False, use_compiled: bool = True, cache_dir: str | Path | None = None,
                 poll_timeout_s: float = 0.5, freeze_heap: bool = False, start: bool = True,
                 threads: int | None = None):
        if require_signed and public_key is None:
            raise ConfigError("require_signed=True needs public_key= to check the signatures with")
        self.source = source
        self.pin = pin
        self._options = dict(trusted=tuple(trusted), public_key=public_key, require_signed=require_signed,
                             allow_incompatible=allow_incompatible, use_compiled=use_compiled,
                             threads=check_threads(threads))
        self._cache = VersionCache(Path(cache_dir), source.name) if cache_dir is not None else None
        self._poll_timeout_s = poll_timeout_s
        self._freeze_heap = freeze_heap
        self._model: Model | None = None
        self.last_event: SwapEvent | None = None
        """The last version swapped in or refused (None before the first decision)."""
        self._asked = threading.Event()  # the follower asked its source once and dealt with the answer
        self._callbacks: list[Callable[[SwapEvent], None]] = []
        self._changed = threading.Condition()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._follow, name=f"mldeploy-live-{source.name}", daemon=True)
        if self._cache is not None:
            self._serve_cached()
        if start:
            self._thread.start()

    @property
    def model(self) -> Model:
        """The version serving now; NotReadyError before one has passed its checks."""
        model = self._model
        if model is None:
            pinned = f", pinned to version {self.pin}" if self.pin is not None else ""
            raise NotReadyError(f"{self.source.name} has no version that passed its checks yet (following "
                                f"{self.source.describe()}{pinned})")
        return model

    @property
    def ref(self) -> BundleRef:
        """``name@version`` serving now."""
        return self.model.ref

    @property
    def version(self) -> int | None:
        """The version number serving now, or None before the first."""
        model = self._model
        return model.ref.version if model is not None else None

    @property
    def is_ready(self) -> bool:
        """Whether a version has passed its checks and is serving."""
        return self._model is not None

    @property
    def has_settled(self) -> bool:
        """Whether the first answer of the source has been dealt with: a version swapped in or refused,
        nothing to offer yet (an alias not set), or an error (the source unreachable)."""
        return self._model is not None or self.last_event is not None or self._asked.is_set()

    def infer(self, data, extra: Extra = "reject", missing: Missing = "as-given") -> Prediction:
        """Predict with the version serving when the call starts (see :meth:`Model.infer`)."""
        return self.model.infer(data, extra, missing)

    def infer_accepted(self, data, extra: Extra = "reject", missing: Missing = "as-given",
                       max_issues: int | None = None) -> Accepted:
        """Predict the valid rows and set the others aside, with the version serving when the call starts
        (see :meth:`Model.infer_accepted`)."""
        return self.model.infer_accepted(data, extra, missing, max_issues)

    def prepare(self, data, extra: Extra = "reject", missing: Missing = "as-given", refuse: Refuse = "input") -> Prepared:
        """Validate and encode ``data`` with the version serving now (see :meth:`Model.prepare`).

        Compute it with that version, ``prepared.model.compute(prepared)``: a swap meanwhile doesn't change it.
        """
        return self.model.prepare(data, extra, missing, refuse)

    def predict(self, data, extra: Extra = "reject", missing: Missing = "as-given"):
        """Predict like :meth:`Model.predict`, with the version serving when the call starts."""
        return self.model.predict(data, extra, missing)

    def predict_proba(self, data, extra: Extra = "reject", missing: Missing = "as-given"):
        """Return class probabilities like :meth:`Model.predict_proba`."""
        return self.model.predict_proba(data, extra, missing)

    def on_swap(self, callback: Callable[[SwapEvent], None]) -> None:
        """Call ``callback(event)`` after every version swapped in or refused."""
        self._callbacks.append(callback)

    def wait_ready(self, timeout_s: float) -> bool:
        """Wait until a version serves; return whether one does."""
        return self._wait(lambda: self._model is not None, timeout_s)

    def wait_for_version(self, version: int, timeout_s: float) -> bool:
        """Wait until ``version`` serves; return whether it does."""
        return self._wait(lambda: self.version == version, timeout_s)

    def consider(self, candidate: Candidate) -> SwapEvent | None:
        """Check a candidate and swap it in if it passes; None when there was nothing to do.

        The background thread calls this for every version the source offers;
        call it directly with ``start=False`` to drive a LiveModel by hand.
        """
        current = self._model
        if self.pin is not None and candidate.ref.version != self.pin:
            log.debug("%s: %s ignored, pinned to version %s", self.source.name, candidate.ref, self.pin)
            return None
        if current is not None and _same_version(current, candidate):
            return None
        try:
            model = check_candidate(candidate, current, **self._options)
        except Refused as refused:
            return self._announce(SwapEvent(candidate.ref, False, _ref(current), refused.check, refused.reason))
        self._swap(model)
        return self._announce(SwapEvent(model.ref, True, _ref(current)))

    def close(self, timeout_s: float = 10.0) -> None:
        """Stop following the source and release it; the serving version keeps answering."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout_s)
        self.source.close()

    def __enter__(self) -> "LiveModel":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"LiveModel({self.source.describe()}, serving={self.version})"

    def _swap(self, model: Model) -> None:
        with self._changed:
            self._model = model  # one assignment: callers see the old model or the new, never half
            self._changed.notify_all()
        if self._freeze_heap:  # after the assignment, so the new version is among what is frozen
            freeze_heap()
        if self._cache is not None:
            self._cache.keep(model.bundle)

    def _follow(self) -> None:
        while not self._stop.is_set():
            failed = True
            try:
                candidate = self.source.next_candidate(self._poll_timeout_s)
                if candidate is not None:
                    self.consider(candidate)
                failed = False
            except MldeployError as exc:
                log.warning("%s: %s; still serving %s", self.source.describe(), exc, self.version)
            except Exception:  # the follower's outermost loop: log, keep the last good version, carry on
                log.exception("%s: unexpected error while following; still serving %s", self.source.describe(), self.version)
            self._asked.set()
            if failed:
                self._stop.wait(_RETRY_AFTER_ERROR_S)

    def _serve_cached(self) -> None:
        cached = self._cache.candidate()
        if cached is not None:
            event = self.consider(cached)
            if event is not None and not event.accepted:
                self._cache.forget()

    def _announce(self, event: SwapEvent) -> SwapEvent:
        self.last_event = event
        (log.info if event.accepted else log.warning)("%s: %s", self.source.name, event.describe())
        for callback in list(self._callbacks):
            try:
                callback(event)
            except Exception:  # a caller's callback must not stop the follower
                log.exception("%s: an on_swap callback failed", self.source.name)
        return event

    def _wait(self, condition: Callable[[], bool], timeout_s: float) -> bool:
        with self._changed:
            return self._changed.wait_for(condition, timeout_s)


def _same_version(current: Model, candidate: Candidate) -> bool:
    if candidate.digest is not None:
        return current.bundle.digest == candidate.digest and current.ref == candidate.ref
    return current.ref == candidate.ref


def _ref(model: Model | None) -> BundleRef | None:
    return model.ref if model is not None else None
