"""The stream adapter: model versions published as data, live subscribers, streaming scoring.

``publish`` writes a registered bundle to a model topic (Kafka or a local
log); ``subscribe`` returns the serving core's ``LiveModel`` over a
:class:`~mldeploy.stream.source.TopicSource`; :mod:`~mldeploy.stream.scorer`
scores a topic of events into a topic of predictions. The Kafka client is
imported only when a Kafka URL is used, and the serving core only by
``subscribe``.
"""

from __future__ import annotations

from mldeploy._lazy import lazy_names

__all__ = ["Published", "TopicSource", "publish", "subscribe"]

_LAZY = {
    "Published": "mldeploy.stream.publisher",
    "publish": "mldeploy.stream.publisher",
    "TopicSource": "mldeploy.stream.source",
    "subscribe": "mldeploy.stream.subscriber",
}


__getattr__ = lazy_names(__name__, _LAZY)
