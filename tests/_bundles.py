"""Bundles that differ or fail on purpose, for tests of live swaps in every adapter.

Each is a real bundle folder: renumbered copies of a good one, one with a file
changed after its digests were taken, one whose schema callers can't keep
to, one whose pipeline raises on every prediction and one whose every
prediction is NaN.
"""

from __future__ import annotations

import functools
import hashlib
import json
import shutil
from dataclasses import replace
from pathlib import Path

import numpy as np
import skops.io

import _cache
import _models
from mldeploy.bundle import Bundle, storage
from mldeploy.examples import salary


def salary_bundle_at(directory: Path, **options) -> Bundle:
    """Return a new copy in ``directory`` of the bundle of ``_models.salary_pipeline()`` named salary.

    ``options`` go to :meth:`Bundle.from_pipeline` (``compile``, ``metrics``: JSON values). The bundle
    is built once per cache key and options (a build compiles and verifies for seconds).
    """
    described = json.dumps(options, sort_keys=True)

    def build(folder: Path) -> None:
        pipeline, features = _models.salary_pipeline()
        Bundle.from_pipeline(pipeline, features, name="salary", directory=folder, **json.loads(described))

    name = f"salary-bundle-{hashlib.sha256(described.encode()).hexdigest()[:12]}"
    return _cache.cached_bundle(name, build, Path(directory))


@functools.lru_cache(maxsize=None)
def _salary_bundle(folder: str) -> Bundle:
    return salary_bundle_at(Path(folder) / "salary-base")


def salary_bundle(folder: Path) -> Bundle:
    """Return the shared good salary bundle (made once per folder)."""
    return _salary_bundle(str(folder))


def numbered(bundle: Bundle, folder: Path, version: int) -> Bundle:
    """Return a copy of ``bundle`` numbered ``version``: same content, its own digest."""
    return bundle.copy_to(folder / f"{bundle.name}-{version}", version=version)


def tampered(bundle: Bundle, folder: Path, version: int) -> Path:
    """Return the folder of a numbered copy whose pipeline file changed after its digests were taken."""
    copy = numbered(bundle, folder, version)
    with open(copy.path / storage.PIPELINE, "ab") as file:
        file.write(b"\0")
    return copy.path


def incompatible(folder: Path, version: int) -> Bundle:
    """Return a salary model trained on three of the salary fields (callers send the others; it would refuse them)."""
    from sklearn.linear_model import Ridge
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    data = _models.salary_data()
    features = data[["years_experience", "age", "weekly_hours"]].fillna(0)
    pipeline = make_pipeline(StandardScaler(), Ridge()).fit(features, data[salary.TARGET])
    made = Bundle.from_pipeline(pipeline, features, name="salary", directory=folder / f"incompatible-{version}-src")
    return numbered(made, folder, version)


def raising(bundle: Bundle, folder: Path, version: int) -> Bundle:
    """Return a consistent, correctly digested bundle whose pipeline raises on every prediction."""

    def refuse_every_input(pipeline) -> None:
        pipeline.steps[-1][1].n_features_in_ = 10_000  # scikit-learn refuses every input as having too few features

    return _rebuilt(bundle, folder / f"raising-{version}", version, refuse_every_input)


def not_finite(bundle: Bundle, folder: Path, version: int) -> Bundle:
    """Return a consistent, correctly digested bundle whose regressor predicts NaN for every row."""

    def predict_nan(pipeline) -> None:
        model = pipeline.steps[-1][1]
        model._baseline_prediction = np.full_like(model._baseline_prediction, np.nan)  # every tree adds to NaN

    return _rebuilt(bundle, folder / f"not-finite-{version}", version, predict_nan)


def _rebuilt(bundle: Bundle, target: Path, version: int, change) -> Bundle:
    """Copy ``bundle`` to ``target`` with ``change`` applied to its pipeline, digests retaken, predicted by scikit-learn."""
    shutil.copytree(bundle.path, target)
    pipeline = bundle.load_pipeline()
    change(pipeline)
    skops.io.dump(pipeline, target / storage.PIPELINE)
    shutil.rmtree(target / "compiled", ignore_errors=True)  # the compiled form would answer without the pipeline
    manifest = replace(bundle.manifest, compiled={"status": "fallback", "reason": "made to fail", "plan": []})
    manifest = replace(manifest, files=storage.digest_files(target), sizes=storage.file_sizes(target)).with_version(version)
    storage.write_manifest(target, manifest)
    return Bundle.open(target)


class QueueSource:
    """A ModelSource that offers whatever a test puts in it, in order (a real implementation of the protocol)."""

    def __init__(self, name: str = "salary"):
        import queue

        self.name = name
        self._queue = queue.Queue()
        self._empty = queue.Empty

    def offer(self, candidate) -> None:
        """Queue a candidate for the LiveModel."""
        self._queue.put(candidate)

    def describe(self) -> str:
        return f"a test queue of {self.name} versions"

    def next_candidate(self, timeout_s: float):
        try:
            return self._queue.get(timeout=timeout_s)
        except self._empty:
            return None

    def close(self) -> None:
        pass


def candidate_of(path: Path, version: int, name: str = "salary"):
    """Return a Candidate that opens (and so verifies) the bundle folder at ``path``."""
    from mldeploy.bundle import BundleRef
    from mldeploy.serving.model_source import Candidate

    return Candidate(BundleRef(name, version), None, lambda: Bundle.open(path))
