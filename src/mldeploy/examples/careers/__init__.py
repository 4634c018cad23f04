"""The careers website: the salary estimator on a real page, answered by each of the four architectures.

``mldeploy example careers-site`` runs it. The page's form is built from the
bundle's schema; a switch picks who answers: the model in the site's process
(embedded), the visitor's browser (the exported ONNX file in onnxruntime-web),
a model server (`mldeploy serve`), a live model subscribed to a model topic,
or a table of every answer the form can send, precomputed by `mldeploy batch`.
Every mode answers the same JSON, with the range from the held-out residual
quantiles training stored in the bundle.

Example::

    from mldeploy.examples.careers import CareersSite, SiteConfig, create_app
    site = CareersSite(SiteConfig(ref="salary:production", mode="embedded"), registry)
    uvicorn.run(create_app(site), port=8000)
"""

from mldeploy.examples.careers.app import create_app
from mldeploy.examples.careers.site import MODES, CareersSite, SiteConfig

__all__ = ["MODES", "CareersSite", "SiteConfig", "create_app"]
