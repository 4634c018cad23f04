"""The micro-batcher groups concurrent requests, never makes a lone one wait, and keeps bad rows to their request."""

import asyncio
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from mldeploy.api.batcher import MicroBatcher
from mldeploy.errors import SchemaError
from mldeploy.serving import Model

from _api_data import records

pytestmark = pytest.mark.timeout(60)


@pytest.fixture(scope="module")
def model(salary_bundle):
    return Model(salary_bundle)


class Recorder:
    """The model's own infer_accepted, recording the rows of every call (and able to hold one call)."""

    def __init__(self, model, hold: threading.Event | None = None):
        self.model, self.calls, self.hold = model, [], hold

    def __call__(self, rows, extra):
        self.calls.append(len(rows))
        if self.hold is not None and len(self.calls) == 1:
            self.hold.wait(10)
        return self.model.infer_accepted(rows, extra=extra, missing="as-trained")


def _run(coro):
    return asyncio.run(asyncio.wait_for(coro, 30))


def test_requests_arriving_together_share_one_call_and_get_their_own_rows(model, new_rows):
    recorder = Recorder(model)
    batcher = MicroBatcher(recorder, ThreadPoolExecutor(1), runs_inline=lambda rows: True)
    parts = [records(new_rows.iloc[i:i + 3]) for i in range(0, 12, 3)]

    async def main():
        return await asyncio.gather(*(batcher.submit(part) for part in parts))

    results = _run(main())
    assert recorder.calls == [12]
    for part, pred in zip(parts, results):
        np.testing.assert_array_equal(pred.values, model.predict(part, missing="as-trained"))
        assert pred.ref == model.ref


def test_a_lone_request_does_not_wait_for_company(model, new_rows):
    recorder = Recorder(model)
    batcher = MicroBatcher(recorder, ThreadPoolExecutor(1), max_wait_s=60.0)  # would time out if it waited
    pred = _run(batcher.submit(records(new_rows.head(1))))
    assert recorder.calls == [1] and len(pred) == 1


def test_a_bad_row_fails_only_its_own_request(model, new_rows):
    recorder = Recorder(model)
    batcher = MicroBatcher(recorder, ThreadPoolExecutor(1), runs_inline=lambda rows: True)
    good, bad, other = records(new_rows.iloc[0:2]), records(new_rows.iloc[2:4]), records(new_rows.iloc[4:7])
    bad[1]["years_experience"] = "ten"

    async def main():
        return await asyncio.gather(*(batcher.submit(p) for p in (good, bad, other)), return_exceptions=True)

    first, error, third = _run(main())
    assert isinstance(error, SchemaError)
    assert [(i.row, i.field, i.got) for i in error.issues] == [(1, "years_experience", '"ten"')]
    np.testing.assert_array_equal(first.values, model.predict(good, missing="as-trained"))
    np.testing.assert_array_equal(third.values, model.predict(other, missing="as-trained"))
    assert recorder.calls == [7]  # one call: the core set the bad row aside and predicted the rest


def test_batches_stop_at_max_batch_rows_and_a_frame_runs_alone(model, new_rows):
    recorder = Recorder(model)
    batcher = MicroBatcher(recorder, ThreadPoolExecutor(1), max_batch_rows=6, runs_inline=lambda rows: True)

    async def main():
        parts = [batcher.submit(records(new_rows.iloc[i:i + 3])) for i in range(0, 12, 3)]
        return await asyncio.gather(*parts[:2], batcher.submit(new_rows.iloc[:20]), *parts[2:])

    results = _run(main())
    assert recorder.calls == [6, 20, 6]
    assert [len(r) for r in results] == [3, 3, 20, 3, 3]


def test_requests_queued_behind_a_running_batch_go_together_into_the_next(model, new_rows):
    hold = threading.Event()
    recorder = Recorder(model, hold)
    batcher = MicroBatcher(recorder, ThreadPoolExecutor(1))  # every batch in the thread

    async def main():
        first = asyncio.ensure_future(batcher.submit(records(new_rows.head(1))))
        while not recorder.calls:  # the first batch is running (held) in the thread
            await asyncio.sleep(0.001)
        rest = [asyncio.ensure_future(batcher.submit(records(new_rows.iloc[i:i + 2]))) for i in range(1, 7, 2)]
        while batcher.queued_rows < 6:  # all three wait behind the held batch
            await asyncio.sleep(0)
        hold.set()
        return await asyncio.gather(first, *rest)

    results = _run(main())
    assert recorder.calls == [1, 6]
    assert [len(r) for r in results] == [1, 2, 2, 2]


def test_run_alone_predicts_at_once_when_no_request_waits_and_declines_when_one_does(model, new_rows):
    recorder, sizes = Recorder(model), []
    batcher = MicroBatcher(recorder, ThreadPoolExecutor(1), runs_inline=lambda rows: rows <= 4,
                           on_batch=lambda rows, pred: sizes.append(rows))
    rows = records(new_rows.head(2))

    async def main():
        alone = batcher.run_alone(rows)  # no await: answered on this turn of the loop
        queued = asyncio.ensure_future(batcher.submit(records(new_rows.head(3))))
        await asyncio.sleep(0)  # the submit is queued, its dispatch due at the end of this turn
        with_company = batcher.run_alone(rows)
        too_large = batcher.run_alone(records(new_rows.head(5)))
        return alone, with_company, too_large, await queued

    alone, with_company, too_large, queued = _run(main())
    np.testing.assert_array_equal(alone.values, model.predict(rows, missing="as-trained"))
    assert with_company is None and too_large is None and len(queued) == 3
    assert recorder.calls == [2, 3] and sizes == [2, 3]  # an inline run is counted as a batch like any other


def test_run_alone_raises_the_error_of_its_own_rows(model, new_rows):
    batcher = MicroBatcher(Recorder(model), ThreadPoolExecutor(1), runs_inline=lambda rows: True)
    bad = records(new_rows.head(2))
    bad[1]["age"] = "old"
    with pytest.raises(SchemaError) as caught:
        batcher.run_alone(bad)
    assert [(i.row, i.field) for i in caught.value.issues] == [(1, "age")]
