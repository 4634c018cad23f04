"""How a URL is shown in any message: without its password.

Database and broker URLs may carry ``user:password@``; logs, errors, HTTP bodies and
command output show them as ``user:***@``. Standard library only: the command line imports it.
"""

from __future__ import annotations

import re

__all__ = ["masked_url"]

_PASSWORD = re.compile(r"(//[^/]*?:)[^/]*@")
"""``//user:`` up to the last ``@`` of the authority: the password, even one holding a raw ``@``."""


def masked_url(url: object) -> str:
    """Return ``url`` (a string or a SQLAlchemy URL) with any password replaced by ``***``."""
    text = url.render_as_string(hide_password=True) if hasattr(url, "render_as_string") else str(url)
    return _PASSWORD.sub(r"\1***@", text, count=1)
