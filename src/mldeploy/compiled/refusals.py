"""Answer many rows with few predictions, each row's answer the one it gets alone.

Every step we probe or verify works row by row, so a predictor refuses a batch
exactly when it refuses one of its rows. Rows expected to pass go in one call,
halved only when it is refused, until each refused row stands alone; rows
suspected of being refused (say, those the compiled form refuses) are asked
alone from the start. A good guess costs one call per refused row plus one,
where halving blind costs about two calls per refused row and halving level.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

__all__ = ["answer_rows"]


def answer_rows(ask: Callable[[list[int]], Sequence | None], count: int, suspects: Iterable[int] = ()) -> list:
    """Return one answer per position ``0..count-1``: what ``ask(positions)`` gave it, or None where refused.

    ``ask`` returns one answer per position asked, or None when it refuses the batch.
    A None answer always comes from asking that position alone.
    """
    answers: list = [None] * count
    suspected = sorted({int(p) for p in suspects if 0 <= p < count})
    skip = set(suspected)
    pending = [[p] for p in reversed(suspected)]
    rest = [p for p in range(count) if p not in skip]
    if rest:
        pending.append(rest)
    while pending:
        positions = pending.pop()
        got = ask(positions)
        if got is None and len(positions) > 1:
            middle = len(positions) // 2
            pending += [positions[middle:], positions[:middle]]
            continue
        for k, p in enumerate(positions):
            answers[p] = None if got is None else got[k]
    return answers
