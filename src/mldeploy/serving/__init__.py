"""The serving core: the one prediction engine every adapter calls.

It turns a reference into a verified :class:`Model`, validates input once,
predicts on the fastest exact path and returns one :class:`Prediction`;
:mod:`mldeploy.serving.codecs` translates that result to the forms adapters
speak, and :class:`LiveModel` follows a source (a registry alias, a topic) and
swaps verified versions in at run time. It imports no adapter.
"""

from __future__ import annotations

from mldeploy._lazy import lazy_names

__all__ = ["Candidate", "LiveModel", "Model", "Prediction", "RegistrySource", "ServingPath", "ServingPlan",
           "MAX_THREADS", "ModelSource", "SwapEvent", "available_cores", "load", "open_model_source"]

_WHERE = {
    "Model": "mldeploy.serving.model",
    "ServingPlan": "mldeploy.serving.model",
    "load": "mldeploy.serving.loading",
    "Prediction": "mldeploy.serving.result",
    "ServingPath": "mldeploy.serving.result",
    "LiveModel": "mldeploy.serving.live_model",
    "SwapEvent": "mldeploy.serving.live_model",
    "Candidate": "mldeploy.serving.model_source",
    "ModelSource": "mldeploy.serving.model_source",
    "RegistrySource": "mldeploy.serving.model_source",
    "open_model_source": "mldeploy.serving.model_source",
    "available_cores": "mldeploy.serving._threads",
    "MAX_THREADS": "mldeploy.serving._threads",
}


__getattr__ = lazy_names(__name__, _WHERE)
