"""Train a table into a registered, aliased version in one call.

``mldeploy train``, the demo, continuous training and the examples all go
through :func:`train_and_register`, so a version is made one way everywhere:
checked table, fitted pipeline, held-out metrics, verified bundle, registry
number, optional alias.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

import pandas as pd

from mldeploy.bundle import Bundle, BundleRef
from mldeploy.ops.training import TrainResult, train

__all__ = ["train_and_register"]


def train_and_register(
    frame: pd.DataFrame,
    target: str,
    name: str | None = None,
    registry=None,
    alias: str | None = None,
    factory: Callable | None = None,
    task: str | None = None,
    drop: Iterable[str] = (),
    features: Sequence[str] | None = None,
    sign_key=None,
    test_size: float = 0.2,
    seed: int = 0,
    trusted: Iterable[str] = (),
    description: str = "",
    public_key=None,
    progress: Callable[[str], None] | None = None,
    parent: str | BundleRef | None = None,
) -> tuple[BundleRef, TrainResult]:
    """Fit a pipeline on ``frame``, bundle it, register it as the next version of ``name`` and set ``alias``.

    ``name`` defaults to the target column; ``registry`` is a
    :class:`~mldeploy.registry.Registry` or a location for
    :func:`~mldeploy.registry.open_registry` (default: ``$MLDEPLOY_REGISTRY``,
    else ``./.mldeploy``), opened with ``public_key`` and created only once
    there is a version to register, so a refused table leaves nothing behind.
    ``factory``, ``task``, ``drop``, ``features``, ``test_size`` and ``seed``
    go to :func:`mldeploy.ops.training.train`; ``sign_key`` signs the bundle.
    ``progress`` is called with a short phrase before each slow step.
    ``parent`` is the version's lineage (default: the latest version before it).

    The returned result's ``warnings`` lists what the caller should see: a
    feature that alone predicts the target. ``trusted`` names the types beyond
    the safe defaults the pipeline may hold (each later load must trust them
    too); any other such type stops the bundle being made (UntrustedTypesError
    names every one), before anything is registered.

    Example::

        ref, result = train_and_register(pd.read_csv("salaries.csv"), "salary", registry="./models", alias="staging")
    """
    from mldeploy.registry import Registry, open_registry

    model_name = BundleRef.check_name(name or target)
    if alias:  # checked before training, so a typo costs no training run
        BundleRef.check_alias(alias)
    report = progress or (lambda _phrase: None)
    report(f"training on {len(frame):,} rows")
    result = train(frame, target, factory=factory, test_size=test_size, seed=seed, task=task, drop=drop, features=features)
    report("bundling and verifying")
    owned = not isinstance(registry, Registry)  # a location we open is ours to close
    store = open_registry(registry, public_key=public_key, create=True) if owned else registry
    try:
        with tempfile.TemporaryDirectory(prefix="mldeploy-train-") as scratch:
            bundle = Bundle.from_pipeline(result.pipeline, result.features, name=model_name, metrics=result.metrics,
                                          signing_key=sign_key, description=description, directory=Path(scratch) / "bundle",
                                          trusted=tuple(trusted),
                                          extra_files=result.error_model.to_files() if result.error_model else None)
            ref = store.register(bundle, parent=parent, sign_with=sign_key)
            if alias:
                store.set_alias(ref, alias)
    finally:
        if owned:
            store.close()
    return ref, result
