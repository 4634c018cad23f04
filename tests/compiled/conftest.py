"""Fixtures for the compiled-form tests: the salary pipeline, fitted once per session."""

from __future__ import annotations

import warnings

import pandas as pd
import pytest

import _models
from mldeploy.compiled import compile_pipeline
from mldeploy.examples import salary


@pytest.fixture(scope="session")
def salary_data() -> tuple[pd.DataFrame, pd.Series]:
    """Training features and target: 5,000 rows."""
    train = salary.generate(5_000, seed=1)
    return train.drop(columns=salary.TARGET), train[salary.TARGET]


@pytest.fixture(scope="session")
def salary_pipeline():
    """The salary pipeline with 50 boosting iterations, fitted on the rows of ``salary_data`` (from the tests' disk cache)."""
    return _models.salary_pipeline(rows=5_000, seed=1, max_iter=50)[0]


@pytest.fixture(scope="session")
def salary_compiled(salary_pipeline, salary_data):
    """The compile result of the salary pipeline, verified on 1,000 training rows."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return compile_pipeline(salary_pipeline, salary_data[0].iloc[:1_000])


@pytest.fixture(scope="session")
def salary_holdout() -> pd.DataFrame:
    """2,000 rows the pipeline never saw, half of them drifted (unseen cities and job families)."""
    rows = pd.concat([salary.generate(1_000, seed=3), salary.generate(1_000, seed=8, drift=0.5)], ignore_index=True)
    return rows.drop(columns=salary.TARGET)


@pytest.fixture(params=[True, False], ids=["vectors", "scalar"])
def walk_vectors(request):
    """The C walk with its AVX-512 vectors on (where the processor has them) and off; the choice made at load after."""
    from mldeploy.compiled.native import native_kernels

    kernels = native_kernels()
    chosen = kernels.vectors
    kernels.use_vectors(request.param)
    yield
    kernels.use_vectors(chosen)
