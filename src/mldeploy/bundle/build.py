"""Make a bundle from a fitted pipeline: schema, probes, sample, profile, manifest."""

from __future__ import annotations

import contextlib
import functools
import gc
import json
import re
import tempfile
import shutil
from pathlib import Path

import numpy as np
import pandas as pd

from mldeploy.bundle import storage
from mldeploy.compiled.one_thread import one_native_thread
from mldeploy.compiled.plan import CompiledInfo
from mldeploy.bundle.compiling import compile_checked
from mldeploy.bundle.digest import frame_fingerprint
from mldeploy.bundle.manifest import Manifest
from mldeploy.bundle.probing import probe_schema
from mldeploy.bundle.profile import profile_frame, profile_values
from mldeploy.bundle.ref import BundleRef
from mldeploy.bundle.schema import Schema
from mldeploy.bundle.saving import saved_pipeline
from mldeploy.errors import BundleError

__all__ = ["write_bundle"]

_SAMPLE_ROWS = 256
_PREDICTION_ROWS = 20_000
_PLAIN_NAME = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9_.-]*")
_OWN_NAMES = frozenset({storage.MANIFEST, storage.SIGNATURE})


def write_bundle(
    pipeline,
    sample: pd.DataFrame,
    name: str,
    metrics: dict | None = None,
    parent: str | None = None,
    description: str = "",
    ranges: dict | None = None,
    directory: str | Path | None = None,
    compile: bool = True,
    trusted: tuple[str, ...] = (),
    extra_files: dict[str, bytes] | None = None,
) -> tuple[Path, Manifest, Schema]:
    """Write the files of a new, unnumbered bundle of ``pipeline``; return its folder, manifest and schema.

    :meth:`Bundle.from_pipeline <mldeploy.bundle.Bundle.from_pipeline>` is the public call.
    ``sample`` is the training input (features only); its fingerprint, a
    sample of its rows and a profile go into the bundle. ``ranges`` overrides
    the allowed range of numeric fields. Without ``directory`` the bundle lives
    in a temporary folder until it is registered or copied. ``compile=False``
    skips the compiled form (predictions then always come from scikit-learn).
    ``trusted`` names the types (your own transformers) beyond the safe defaults
    that the pipeline holds; loaders must name them too. A pipeline that would
    not load under them raises UntrustedTypesError naming every such type.
    ``extra_files`` (name -> bytes) adds files of the caller's own, such as the
    estimated-error model; the manifest's digests cover them like the rest.
    """
    BundleRef.check_name(name)
    with _collector_paused():
        return _write_bundle(pipeline, sample, name, metrics, parent, description, ranges, directory, compile,
                             tuple(trusted), extra_files or {})


@contextlib.contextmanager
def _collector_paused():
    """Pause cyclic garbage collection while a bundle is made (reference counting still frees what is dropped).

    Saving, loading and verifying the pipeline make and keep many small containers (skops's state
    of the whole pipeline), and young collections would walk them again and again: about 10 ms of
    the 0.25 s the tour's salary bundle takes. Left as it was found when it was off already.
    """
    was_on = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_on:
            gc.enable()


def _write_bundle(pipeline, sample, name, metrics, parent, description, ranges, directory, compile, trusted,
                  extra_files) -> tuple[Path, Manifest, Schema]:
    _check_fitted(pipeline, sample)
    sample = _fitted_columns(pipeline, sample)
    task, classes = _task_of(pipeline)
    # The one large prediction, of the sample, with the native threads the fit had (2,000 salary rows on two
    # cores: 15.6 ms against 23.3 on one); every other one here is of a few rows, where starting threads
    # costs more than they save (on a busy machine, many times more).
    profiled, predicted = _predictions(pipeline, sample)
    with one_native_thread():
        compiled, info = (compile_checked(pipeline, sample, predicted if profiled is sample else None) if compile
                          else (None, CompiledInfo("fallback", "compile=False")))
        # The compiled form, verified to refuse what the pipeline refuses, says which probes to ask alone.
        suspect = None if compiled is None else functools.partial(_refused_rows, compiled)
        schema = probe_schema(pipeline, Schema.from_sample(sample, task, classes, ranges), sample, suspect)
    saved = saved_pipeline(pipeline, trusted)
    target = _target_directory(directory)
    try:
        _write_payload(target, saved, schema, sample, _prediction_profile(predicted, task))
        if compiled is not None:
            compiled.save(target)
        _write_extra_files(target, extra_files)
        manifest = Manifest(
            name=name, task=task, files=storage.digest_files(target), sizes=storage.file_sizes(target),
            metrics=dict(metrics or {}), data_fingerprint=frame_fingerprint(sample), training_rows=int(len(sample)),
            parent=parent, description=description, compiled=info.to_dict(),
        )
        storage.write_manifest(target, manifest)
    except BaseException:  # a half-written bundle is no bundle: leave nothing behind
        shutil.rmtree(target, ignore_errors=True)
        raise
    return target, manifest, schema


def _check_fitted(pipeline, sample: pd.DataFrame) -> None:
    from sklearn.exceptions import NotFittedError
    from sklearn.utils.validation import check_is_fitted

    if not hasattr(pipeline, "predict"):
        raise BundleError(f"{type(pipeline).__name__} has no predict(); bundle a fitted scikit-learn pipeline or estimator")
    try:
        check_is_fitted(pipeline)
    except NotFittedError as exc:
        raise BundleError("the pipeline is not fitted; call fit() before making a bundle") from exc
    if not isinstance(sample, pd.DataFrame) or sample.empty:
        raise BundleError("sample must be a non-empty DataFrame of the training features (without the target)")


def _fitted_columns(pipeline, sample: pd.DataFrame) -> pd.DataFrame:
    """Return ``sample`` in the pipeline's column order, refusing one with other columns than it was fitted on.

    A sample that still holds the target or an id would become the schema, and
    every later prediction would be refused for lacking those fields.
    """
    fitted = getattr(pipeline, "feature_names_in_", None)
    if fitted is None:  # fitted on an array: there are no names to check against
        return sample
    fitted = [str(name) for name in fitted]
    extra = [str(c) for c in sample.columns if str(c) not in fitted]
    missing = [name for name in fitted if name not in sample.columns]
    if extra or missing:
        parts = ([f"not fitted on {', '.join(map(repr, extra))} (the target? an id?)"] if extra else []) + (
            [f"missing {', '.join(map(repr, missing))}"] if missing else [])
        raise BundleError(
            f"the sample's columns differ from those the pipeline was fitted on: {'; '.join(parts)}; "
            "pass the training features only, e.g. sample=train.drop(columns=[target, id])"
        )
    return sample[fitted]


def _task_of(pipeline) -> tuple[str, list | None]:
    from sklearn.base import is_classifier

    if is_classifier(pipeline):
        return "classification", [c.item() if hasattr(c, "item") else c for c in pipeline.classes_]
    return "regression", None


def _target_directory(directory) -> Path:
    if directory is None:
        return Path(tempfile.mkdtemp(prefix="mldeploy-bundle-"))
    target = Path(directory)
    if target.exists() and any(target.iterdir()):
        raise BundleError(f"{target} is not empty; give a new folder for the bundle")
    target.mkdir(parents=True, exist_ok=True)
    return target


def _write_payload(target: Path, saved: bytes, schema: Schema, sample: pd.DataFrame, prediction: dict) -> None:
    (target / storage.PIPELINE).write_bytes(saved)
    (target / storage.SCHEMA).write_text(json.dumps(schema.to_dict(), indent=2))
    kept = sample.sample(n=min(_SAMPLE_ROWS, len(sample)), random_state=0).sort_index()
    (target / storage.SAMPLE).write_text(json.dumps({"rows": _records(kept)}, allow_nan=False))
    profile = {**profile_frame(sample), "prediction": prediction}
    # compact: the profile holds quantile sketches and predictions, and indenting makes json use its slow encoder
    (target / storage.PROFILE).write_text(json.dumps(profile, allow_nan=False, separators=(",", ":")))


def _predictions(pipeline, sample: pd.DataFrame) -> tuple[pd.DataFrame, np.ndarray]:
    """Return (a sample of) the training rows and the pipeline's own predictions of them."""
    rows = sample.sample(n=min(_PREDICTION_ROWS, len(sample)), random_state=0) if len(sample) > _PREDICTION_ROWS else sample
    return rows, np.asarray(pipeline.predict(rows))


def _prediction_profile(predicted: np.ndarray, task: str) -> dict:
    """Profile the pipeline's own predictions on its training rows: the baseline of prediction drift."""
    predicted = pd.Series(predicted)
    return profile_values(predicted.astype(str) if task == "classification" else predicted.astype("float64"))


def _refused_rows(compiled, rows: pd.DataFrame) -> set[int]:
    """The positions of ``rows`` the compiled form refuses; none named when it fails otherwise (a guess, not a verdict)."""
    from mldeploy.compiled.verification import refused_positions

    try:
        return refused_positions(compiled.predict_frame, rows)
    except Exception:  # noqa: BLE001 - a hint that cannot be had is no hint
        return set()


def _write_extra_files(target: Path, files: dict[str, bytes]) -> None:
    for name, data in files.items():
        if not _PLAIN_NAME.fullmatch(name) or name in _OWN_NAMES or (target / name).exists():
            raise BundleError(f"extra file name {name!r} is taken or not a plain file name; choose another")
        (target / name).write_bytes(data)


def _records(frame: pd.DataFrame) -> list[dict]:
    records = frame.astype(object).where(frame.notna(), None).to_dict(orient="records")
    return [{str(k): (v.item() if hasattr(v, "item") else v) for k, v in row.items()} for row in records]
