"""subscribe(): the serving core's LiveModel following a model topic."""

from __future__ import annotations

from pathlib import Path

from mldeploy.serving import LiveModel
from mldeploy.stream.source import TopicSource

__all__ = ["subscribe"]


def subscribe(url: str, name: str, *, pin: int | None = None, topic: str | None = None, public_key=None,
              require_signed: bool = False, cache_dir: str | Path | None = None, trusted=(),
              allow_incompatible: bool = False, use_compiled: bool = True, wait_s: float = 30.0) -> LiveModel:
    """Return a live model of ``name`` that swaps in every good version published to ``url``.

    ``pin`` holds one version; ``topic`` picks a topic per use (``models-eu``,
    ``models-canary``); ``public_key`` checks signatures and ``require_signed``
    refuses unsigned versions; ``cache_dir`` keeps the last good version, served
    after a restart while the topic cannot be reached. Every version is checked
    (digest, signature, load, schema compatibility, a smoke prediction) before
    it serves; a refused one is reported through ``on_swap`` and the old one
    keeps serving.

    It waits up to ``wait_s`` seconds (30 by default) for the first good
    version, so the model it returns predicts at once when the topic holds
    one. When none has come by then it returns anyway, following the topic,
    and ``predict`` raises NotReadyError until a version serves;
    ``wait_s=0`` returns at once (then ``model.wait_ready(seconds)`` waits).

    Example::

        model = mldeploy.subscribe("kafka://127.0.0.1:9092/models", "salary", cache_dir=".mldeploy/cache")
        model.predict(rows)
        model.on_swap(lambda event: print(event.describe()))
    """
    source = TopicSource(url, name, topic=topic, pin=pin)
    model = LiveModel(source, pin=pin, trusted=trusted, public_key=public_key, require_signed=require_signed,
                      allow_incompatible=allow_incompatible, use_compiled=use_compiled, cache_dir=cache_dir)
    if wait_s > 0:
        model.wait_ready(wait_s)
    return model
