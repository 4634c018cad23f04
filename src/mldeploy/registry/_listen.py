"""Wait for PostgreSQL's ``NOTIFY mldeploy_changes`` on one dedicated connection.

The connection stays open between waits, so a notification sent while the
caller was busy is kept and returned by the next wait.
"""

from __future__ import annotations

from sqlalchemy.engine import URL

from mldeploy._extras import require
from mldeploy.errors import BackendError
from mldeploy._db import describe
from mldeploy.registry.feed import CHANNEL

__all__ = ["ChangeListener"]

_CONNECT_TIMEOUT_S = 10


class ChangeListener:
    """LISTEN for registry changes; reconnects on the next wait after the connection drops."""

    def __init__(self, url: URL):
        self._url = url
        self._conn = None

    def start(self) -> None:
        """Connect and LISTEN, if not already listening; raise BackendError if the server is unreachable."""
        if self._conn is not None and not self._conn.closed:
            return
        psycopg = require("psycopg")
        conninfo = self._url.set(drivername="postgresql").render_as_string(hide_password=False)
        try:
            self._conn = psycopg.connect(conninfo, autocommit=True, connect_timeout=_CONNECT_TIMEOUT_S)
            self._conn.execute(f"LISTEN {CHANNEL}")
        except psycopg.Error as exc:
            self.close()
            raise BackendError(f"cannot listen for changes on {describe(self._url)}: {exc}; start the server or check the URL") from exc

    def wait(self, timeout_s: float) -> bool:
        """Return True as soon as a change is notified (draining any others), False after ``timeout_s``."""
        psycopg = require("psycopg")
        self.start()
        try:
            got = any(True for _ in self._conn.notifies(timeout=timeout_s, stop_after=1))
            if got:
                for _ in self._conn.notifies(timeout=0):
                    pass  # one wake-up is enough: the caller reads the feed for the details
            return got
        except psycopg.Error as exc:
            self.close()
            raise BackendError(f"lost the change listener on {describe(self._url)}: {exc}; it reconnects on the next wait") from exc

    def close(self) -> None:
        """Close the listening connection."""
        if self._conn is not None:
            self._conn.close()
            self._conn = None
