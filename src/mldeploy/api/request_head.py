"""uvicorn's httptools protocol with a bound on each request head (request line and headers): its size and its time.

uvicorn bounds neither for httptools (``h11_max_incomplete_event_size`` is h11's only, and
no timeout runs before a connection's first response): a single 200 MB header was read over
80 s into 400 MB, and 4,000 connections that sent half a header were kept for ever. This
subclass counts the bytes of a head as they arrive, before the parser copies them, and
answers 431 and closes once a head passes ``max_head_bytes``; a connection that has not
finished a head ``head_timeout_s`` after it began it (or, for the first, after it connected)
is closed. Idle keep-alive connections stay uvicorn's (``timeout_keep_alive``), which also
closes a connection whose next head arrived, unfinished, in the read that ended a request. The
hot path adds a few attribute checks per read and no timer per request: the timer runs only
while a head is incomplete at the end of a read.

Built by :func:`head_bounded_protocol`: uvicorn calls the factory for each connection.
"""

from __future__ import annotations

import asyncio
from functools import partial

import orjson
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from mldeploy.api.errors import HeadTooLargeError, error_body, status_for

__all__ = ["HeadBoundedProtocol", "head_bounded_protocol"]

_REASON = b"Request Header Fields Too Large"


class HeadBoundedProtocol(HttpToolsProtocol):
    """HttpToolsProtocol that refuses a request head over ``max_head_bytes`` and closes one slower than ``head_timeout_s``."""

    def __init__(self, *args, max_head_bytes: int, head_timeout_s: float, **kwargs):
        super().__init__(*args, **kwargs)
        self._max_head_bytes = max_head_bytes
        self._head_timeout_s = head_timeout_s
        self._head_bytes: int | None = 0
        """Bytes read since the last request ended (of the next head); None from a head's end to its request's end."""
        self._head_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport) -> None:
        super().connection_made(transport)
        self._arm_head_timer()  # a connection that sends nothing is as idle as one that sends half a head

    def connection_lost(self, exc) -> None:
        self._disarm_head_timer()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        head = self._head_bytes
        if head is None or head + len(data) <= self._max_head_bytes:  # the usual read: one call, no copy
            if head is not None:
                self._head_bytes = head + len(data)
            HttpToolsProtocol.data_received(self, data)
        else:
            self._receive_past_limit(data)
        if self._head_bytes and self._head_timer is None and not self.transport.is_closing():
            self._arm_head_timer()  # a head is under way, unfinished, at the end of this read

    def _receive_past_limit(self, data: bytes) -> None:
        """Feed the parser up to the limit; refuse the head if it is still unfinished there."""
        while data:
            if self._head_bytes is None:  # the head ended within the limit: the rest is its body (or a next head)
                HttpToolsProtocol.data_received(self, data)
                return
            room = self._max_head_bytes - self._head_bytes
            if room <= 0:
                self._refuse_head()
                return
            chunk, data = data[:room], data[room:]
            self._head_bytes += len(chunk)
            HttpToolsProtocol.data_received(self, chunk)
            if self.transport.is_closing():
                return

    # -- parser callbacks ------------------------------------------------------------------------------

    def on_headers_complete(self) -> None:
        self._head_bytes = None
        if self._head_timer is not None:
            self._disarm_head_timer()
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        self._head_bytes = 0  # what comes next on the connection is the next request's head
        super().on_message_complete()

    # -- limits ----------------------------------------------------------------------------------------

    def _refuse_head(self) -> None:
        self._disarm_head_timer()
        if self.cycle is None or self.cycle.response_complete:  # else an answer is being written: just close
            error = HeadTooLargeError(f"the request line and headers pass {self._max_head_bytes} bytes; send shorter "
                                      "headers (or raise the server's --max-header-bytes)")
            body = orjson.dumps(error_body(error))
            self.transport.write(b"HTTP/1.1 %d %s\r\ncontent-type: application/json\r\ncontent-length: %d\r\n"
                                 b"connection: close\r\n\r\n%s" % (status_for(error), _REASON, len(body), body))
        self.transport.close()

    def _arm_head_timer(self) -> None:
        self._disarm_head_timer()
        self._head_timer = self.loop.call_later(self._head_timeout_s, self._head_timed_out)

    def _disarm_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_timed_out(self) -> None:
        self._head_timer = None
        if self._head_bytes is not None and not self.transport.is_closing():
            self.transport.close()


def head_bounded_protocol(max_head_bytes: int, head_timeout_s: float):
    """The protocol factory to give uvicorn (``http=``): a partial of a module-level class, so it pickles to workers."""
    return partial(HeadBoundedProtocol, max_head_bytes=max_head_bytes, head_timeout_s=head_timeout_s)
