"""The checks a version passes before a LiveModel serves it, each named when it fails."""

from __future__ import annotations

import numpy as np

from mldeploy.bundle import Bundle
from mldeploy.bundle.options import Task
from mldeploy.serving.compatibility import incompatibilities
from mldeploy.serving.model import Model
from mldeploy.serving.model_source import Candidate

__all__ = ["CHECKS", "Refused", "check_candidate"]

CHECKS = ("fetch", "signature", "load", "compatibility", "smoke")
"""The checks, in the order they run."""
SMOKE_ROWS = 64
"""How many of the bundle's sample rows the smoke check predicts."""


class Refused(Exception):
    """A candidate failed ``check`` for ``reason``; internal to the LiveModel, which reports it as a SwapEvent."""

    def __init__(self, check: str, reason: str):
        self.check, self.reason = check, reason
        super().__init__(f"{check}: {reason}")


def check_candidate(candidate: Candidate, serving: Model | None, *, trusted, public_key, require_signed: bool,
                    allow_incompatible: bool, use_compiled: bool, threads: int | None = None) -> Model:
    """Return the candidate as a ready Model, or raise Refused naming the first check it fails."""
    bundle = _run("fetch", candidate.fetch)
    if candidate.digest is not None and bundle.digest != candidate.digest:
        raise Refused("fetch", f"the bundle fetched has digest {bundle.digest[:16]}…, the source announced {candidate.digest[:16]}…")
    _run("signature", lambda: _check_signature(bundle, public_key, require_signed))
    model = _run("load", lambda: Model(bundle, trusted=trusted, use_compiled=use_compiled, threads=threads))
    if serving is not None and not allow_incompatible:
        problems = incompatibilities(serving.schema, model.schema)
        if problems:
            raise Refused("compatibility", f"{'; '.join(problems)} (compared with {serving.ref}, which keeps serving)")
    _run("smoke", lambda: _smoke(model))
    return model


def _run(check: str, step):
    try:
        return step()
    except Refused:
        raise
    except Exception as exc:  # whatever a transport or a pipeline raises, the verdict is the same: refused
        raise Refused(check, str(exc) or type(exc).__name__) from exc


def _check_signature(bundle: Bundle, public_key, require_signed: bool) -> None:
    if bundle.signature is None and (require_signed or public_key is not None):
        raise Refused("signature", "the version is not signed, and only signed versions may serve")
    if public_key is not None:
        # The files were checked against the manifest when the bundle was opened; signing the manifest pins them.
        bundle.verify_signature(public_key)


def _smoke(model: Model) -> None:
    # A few dozen of the bundle's own rows show a version that loads but cannot predict; all 256 would
    # cost a large model (a 50 MB network) a quarter of its swap time, in every subscriber.
    sample = model.bundle.sample().head(SMOKE_ROWS)
    prediction = model.infer(sample)
    if len(prediction) != len(sample):
        raise Refused("smoke", f"{len(sample)} sample rows gave {len(prediction)} predictions")
    if model.task is Task.REGRESSION and not np.isfinite(prediction.values.astype("float64")).all():
        raise Refused("smoke", "the bundle's own sample rows give predictions that are not finite numbers")
