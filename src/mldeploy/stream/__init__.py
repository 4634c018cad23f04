"""The stream adapter: model versions published as data, live subscribers, streaming scoring.

``publish`` writes a registered bundle to a model topic (Kafka or a local
log); ``subscribe`` returns the serving core's ``LiveModel`` over a
:class:`TopicSource`; ``scorer`` scores a topic of events into a topic of
predictions. The Kafka client is imported only when a Kafka URL is used.
"""

from mldeploy.stream.publisher import Published, publish

__all__ = ["Published", "publish"]
