"""How deeply a JSON text nests, found without recursion and without a Python loop over its bytes.

Python's ``json`` recurses once per level (100 KB of ``[`` raises RecursionError), and so does
any code that walks what it read; orjson stops at 1,024 levels by itself. Whatever reads JSON
from outside checks the depth of every text it reads, so the scan runs in C: escapes and
``bytes.translate`` keeps only quotes and brackets, and numpy sums the brackets outside strings
a block at a time (memory stays bounded whatever the text's size).
"""

from __future__ import annotations

import numpy as np

__all__ = ["nests_deeper_than"]

_NOT_MARKS = bytes(byte for byte in range(256) if byte not in b'"[]{}')
_OPENS = np.zeros(256, np.int8)
_OPENS[list(b"[{")] = 1
_OPENS[list(b"]}")] = -1
_QUOTE = ord('"')
_BLOCK = 1 << 20


def nests_deeper_than(data: bytes, limit: int) -> bool:
    """True if ``data`` opens more than ``limit`` arrays or objects inside one another (brackets in strings aside)."""
    if data.count(b"[") + data.count(b"{") <= limit:
        return False  # cannot nest deeper: the usual small text never pays for the scan below
    if b"\\" in data:
        # An escaped quote is text, not the end of a string; other escapes hold no quote or bracket. Pairs of
        # backslashes go first, left to right, as a JSON reader takes them.
        data = data.replace(b"\\\\", b"").replace(b'\\"', b"")
    marks = np.frombuffer(data.translate(None, _NOT_MARKS), np.uint8)  # quotes and brackets, in order
    if len(marks) <= limit:
        return False
    depth, in_string = 0, False
    for start in range(0, len(marks), _BLOCK):
        block = marks[start:start + _BLOCK]
        inside = np.bitwise_xor.accumulate((block == _QUOTE).view(np.uint8))  # after an odd count of quotes: 1
        if in_string:
            inside ^= 1
        steps = _OPENS[block] * (inside ^ 1).view(np.int8)  # brackets in strings are text
        levels = np.cumsum(steps, dtype=np.int32)  # a block is far shorter than 2**31
        if levels.max() + depth > limit:
            return True
        depth, in_string = depth + int(levels[-1]), bool(inside[-1])
    return False
