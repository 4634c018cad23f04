"""The transport for each scheme a model topic's URL can name: ``kafka://`` or ``local://``.

Apart from the Transport protocol (``stream/transport.py``) so that the protocol does not
import the implementations it describes.
"""

from __future__ import annotations

from mldeploy.stream.transport import Location, Transport

__all__ = ["open_transport"]


def open_transport(location: Location, **options) -> Transport:
    """Open the transport a location names; Kafka needs the ``kafka`` extra."""
    if location.scheme == "kafka":
        from mldeploy.stream.kafka import KafkaTransport

        return KafkaTransport(location.where, **options)
    from mldeploy.stream.local_log import LocalLog

    return LocalLog(location.where)
