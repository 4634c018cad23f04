"""The dedicated model API mode: the site calls `mldeploy serve` through ``mldeploy.api.Client``."""

from __future__ import annotations

import threading

from mldeploy.examples.careers.answer import Answer

__all__ = ["ApiMode"]


class ApiMode:
    """Ask a model server; start one (`mldeploy serve REF` on a free port) unless ``url`` names a running one.

    The server follows the alias, so moving it swaps the version with no change
    to the site; the range comes from the manifest of whichever version answered.
    """

    name = "api"

    def __init__(self, registry, ref: str, model_name: str, url: str | None = None):
        from mldeploy.api import Client

        self._registry = registry
        self._server = None
        if url is None:
            from mldeploy.ops.local_server import start_api_server

            self._server = start_api_server(registry.url, ref)
            url = self._server.url
        self.url = url
        try:
            self._client = Client(url, model_name)
        except BaseException:  # a half-made mode leaves no server running
            if self._server is not None:
                self._server.stop()
            raise
        self._metrics: dict[int, dict] = {}
        self._lock = threading.Lock()

    def answer(self, row: dict) -> Answer:
        pred = self._client.infer(row)
        return Answer(float(pred.values[0]), pred.ref.name, pred.ref.version, self._metrics_of(pred.ref))

    def status(self) -> dict:
        return {"detail": f"over HTTP from the model server at {self.url}"}

    def close(self) -> None:
        self._client.close()
        if self._server is not None:
            self._server.stop()

    def _metrics_of(self, ref) -> dict:
        with self._lock:
            if ref.version not in self._metrics:
                self._metrics[ref.version] = self._registry.get(str(ref)).manifest.metrics
            return self._metrics[ref.version]
