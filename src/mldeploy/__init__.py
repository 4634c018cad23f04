"""mldeploy: deploy a whole machine-learning pipeline embedded, as an API, as data on a stream, or offline.

Example::

    import mldeploy
    bundle = mldeploy.Bundle.from_pipeline(pipeline, sample=features, name="salary")
    ref = mldeploy.Registry().register(bundle)
    mldeploy.load(ref).predict({"years_experience": 4, ...})

Names are imported on first use, so ``import mldeploy`` stays light.
"""

from __future__ import annotations

from mldeploy._lazy import lazy_names

from mldeploy import errors
from mldeploy.errors import (
    AliasConflictError,
    BackendError,
    BadReferenceError,
    BundleError,
    BundleVersionWarning,
    CompiledFallbackWarning,
    ConfigError,
    Issue,
    MissingExtraError,
    MldeployError,
    NotFoundError,
    NotReadyError,
    PredictionError,
    RegistryError,
    RunBusyError,
    SchemaError,
    UnsupportedError,
    UntrustedTypesError,
    VersionMismatchError,
)

__version__ = "0.1.0"

_LAZY = {
    "Bundle": "mldeploy.bundle",
    "BundleRef": "mldeploy.bundle",
    "Schema": "mldeploy.bundle",
    "Registry": "mldeploy.registry",
    "Prediction": "mldeploy.serving.result",
    "LiveModel": "mldeploy.serving.live_model",
    "Model": "mldeploy.serving.model",
    "PredictionStore": "mldeploy.batch.prediction_store",
    "load": "mldeploy.serving.loading",
    "subscribe": "mldeploy.stream.subscriber",
}

__all__ = sorted([*errors.__all__, *_LAZY])


__getattr__ = lazy_names(__name__, _LAZY)


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
