"""The model-as-data mode: a live model subscribed to a model topic, swapping in each version published."""

from __future__ import annotations

import threading
from pathlib import Path

from mldeploy.errors import BackendError
from mldeploy.examples.careers.answer import Answer

__all__ = ["StreamMode"]

_READY_TIMEOUT_S = 120.0
_SWAPS_KEPT = 20


class StreamMode:
    """Subscribe to ``topic_url``; with none, publish the site's version to a local topic under ``workdir`` first.

    Each swap is kept (newest last) so the page can show a notice when a new
    version starts answering.
    """

    name = "stream"

    def __init__(self, bundle, workdir: Path, topic_url: str | None = None):
        import mldeploy
        from mldeploy.stream import publish

        if topic_url is None:
            topic_url = f"local://{(workdir / 'stream' / 'models').resolve()}"
            publish(bundle, topic_url)
        self.topic_url = topic_url
        self.swaps: list[dict] = []
        self._lock = threading.Lock()
        self._live = mldeploy.subscribe(topic_url, bundle.manifest.name)
        self._live.on_swap(self._swapped)
        if not self._live.wait_ready(_READY_TIMEOUT_S):
            self._live.close()
            raise BackendError(f"no version of {bundle.manifest.name} arrived from {topic_url} within "
                               f"{_READY_TIMEOUT_S:.0f} s; publish one with `mldeploy publish`")

    def answer(self, row: dict) -> Answer:
        model = self._live.model  # one version for the prediction and its range, even if a swap lands meanwhile
        pred = model.infer(row)
        return Answer(float(pred.values[0]), pred.ref.name, pred.ref.version, model.bundle.manifest.metrics)

    def status(self) -> dict:
        with self._lock:
            swaps = list(self.swaps)
        return {"detail": f"a live model subscribed to {self.topic_url}", "model_version": self._live.version,
                "swaps": swaps}

    def close(self) -> None:
        self._live.close()

    def _swapped(self, event) -> None:
        with self._lock:
            self.swaps = [*self.swaps, {"text": event.describe(), "version": event.ref.version, "accepted": event.accepted}][-_SWAPS_KEPT:]
