"""How deeply a JSON text nests, found without recursion: a recursive parser on network input runs out of stack.

Python's ``json`` recurses once per level (100 KB of ``[`` raises RecursionError); orjson stops
at 1,024 levels by itself. Whatever reads JSON from outside checks the depth before it falls
back to ``json``. Standard library only.
"""

from __future__ import annotations

__all__ = ["nests_deeper_than"]

_OPEN, _CLOSE, _QUOTE, _BACKSLASH = frozenset(b"[{"), frozenset(b"]}"), ord('"'), ord("\\")


def nests_deeper_than(data: bytes, limit: int) -> bool:
    """True if ``data`` opens more than ``limit`` arrays or objects inside one another (brackets in strings aside)."""
    if data.count(b"[") + data.count(b"{") <= limit:
        return False  # cannot nest deeper: the usual text never pays for the scan below
    depth, in_string, escaped = 0, False, False
    for byte in data:
        if in_string:
            if escaped:
                escaped = False
            elif byte == _BACKSLASH:
                escaped = True
            elif byte == _QUOTE:
                in_string = False
        elif byte == _QUOTE:
            in_string = True
        elif byte in _OPEN:
            depth += 1
            if depth > limit:
                return True
        elif byte in _CLOSE:
            depth -= 1
    return False
