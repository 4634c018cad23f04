"""Add the compiled form of a pipeline to a bundle being built, with its plan.

The compiled form is verified against the pipeline before it is written; a
pipeline that does not compile (or an environment without onnxruntime) makes
a bundle that predicts with scikit-learn, and the plan says why.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from mldeploy.compiled.plan import CompiledInfo
from mldeploy.errors import MissingExtraError

__all__ = ["compile_into"]

# Enough rows to exercise every tree path that matters, bounded so bundling stays quick.
_VERIFY_ROWS = 5_000


def compile_into(target: Path, pipeline, sample: pd.DataFrame) -> CompiledInfo:
    """Compile ``pipeline`` into ``target/compiled`` if it is exact; return what the manifest records of it."""
    try:
        from mldeploy.compiled import compile_pipeline

        rows = sample if len(sample) <= _VERIFY_ROWS else sample.sample(n=_VERIFY_ROWS, random_state=0)
        result = compile_pipeline(pipeline, rows)
    except MissingExtraError as exc:
        return CompiledInfo("fallback", str(exc))
    plan = tuple(result.plan)
    verified = result.report.summary() if result.report is not None else None
    if result.compiled is None:
        reasons = [p.reason for p in plan if p.status == "fallback"]
        return CompiledInfo("fallback", reasons[0] if reasons else "not compiled", plan, verified)
    result.compiled.save(target)
    return CompiledInfo("compiled", "every step compiled and verified", plan, verified, tuple(result.report.engines))
