"""Compile a pipeline for a bundle being built, verified, with the plan the manifest records.

The compiled form is verified against the pipeline before it is kept; a
pipeline that does not compile (or an environment without onnxruntime) makes
a bundle that predicts with scikit-learn, and the plan says why.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pandas as pd

from mldeploy.compiled.plan import CompiledInfo
from mldeploy.errors import MissingExtraError

if TYPE_CHECKING:
    from mldeploy.compiled.predictor import CompiledPipeline

__all__ = ["compile_checked"]

# Enough rows to exercise every tree path that matters, bounded so bundling stays quick.
_VERIFY_ROWS = 5_000


def compile_checked(pipeline, sample: pd.DataFrame, predicted=None) -> tuple[CompiledPipeline | None, CompiledInfo]:
    """Return ``pipeline`` compiled (None unless verified exact) and what the manifest records of it.

    ``predicted`` is ``pipeline.predict(sample)`` when the caller has it already; the
    verification then reuses it for the sample's rows instead of predicting them again.
    """
    try:
        from mldeploy.compiled import compile_pipeline

        rows = sample if len(sample) <= _VERIFY_ROWS else sample.sample(n=_VERIFY_ROWS, random_state=0)
        result = compile_pipeline(pipeline, rows, predicted if rows is sample else None)
    except MissingExtraError as exc:
        return None, CompiledInfo("fallback", str(exc))
    plan = tuple(result.plan)
    verified = result.report.summary() if result.report is not None else None
    if result.compiled is None:
        reasons = [p.reason for p in plan if p.status == "fallback"]
        return None, CompiledInfo("fallback", reasons[0] if reasons else "not compiled", plan, verified)
    return result.compiled, CompiledInfo("compiled", "every step compiled and verified", plan, verified,
                                         tuple(result.report.engines))
