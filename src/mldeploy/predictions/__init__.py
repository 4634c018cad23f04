"""The prediction database shared below the adapters: its tables and view, and the sink that logs served predictions.

The batch adapter's store (:mod:`mldeploy.batch.prediction_store`) and the
prediction log of the API and the streaming scorer write the same database:
batch runs into ``predictions``, served predictions into ``served_predictions``;
``latest_predictions`` and ``mldeploy validate`` read both.
"""
