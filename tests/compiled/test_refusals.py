"""answer_rows: every row gets the answer it gets alone, whatever the guess of suspects."""

from __future__ import annotations

import numpy as np
import pytest

from mldeploy.compiled.refusals import answer_rows


def _predictor(refused: set[int]):
    """A predictor that refuses a batch holding any refused row, and counts its calls."""
    calls = []

    def ask(positions: list[int]):
        calls.append(list(positions))
        return None if refused & set(positions) else [p * 10 for p in positions]

    return ask, calls


@pytest.mark.parametrize("seed", range(40))
def test_each_answer_is_the_one_the_row_gets_alone(seed) -> None:
    rng = np.random.default_rng(seed)
    count = int(rng.integers(0, 60))
    refused = {int(p) for p in np.flatnonzero(rng.random(count) < rng.choice([0.0, 0.05, 0.3, 1.0]))}
    guess = {int(p) for p in np.flatnonzero(rng.random(count) < 0.1)} | {count + 3, -1}  # wrong, and out of range
    for suspects in (set(), refused, guess, set(range(count))):
        ask, calls = _predictor(refused)
        answers = answer_rows(ask, count, suspects)
        assert answers == [None if p in refused else p * 10 for p in range(count)]
        assert all([p] in calls for p in refused)  # every refusal seen alone


def test_a_right_guess_costs_one_call_per_refused_row_plus_one() -> None:
    ask, calls = _predictor({3, 17, 40})
    answer_rows(ask, 74, {3, 17, 40})
    assert len(calls) == 4
    ask, blind = _predictor({3, 17, 40})
    answer_rows(ask, 74)
    assert len(blind) > 12
