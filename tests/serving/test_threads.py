"""Model(threads=): large inputs spread over threads give the one-thread answer to the bit, errors included."""

from __future__ import annotations

import functools
import os
import threading

import numpy as np
import pandas as pd
import pytest
from sklearn.ensemble import HistGradientBoostingClassifier

from mldeploy.bundle import Bundle
from mldeploy.errors import ConfigError, SchemaError
from mldeploy.examples import salary
from mldeploy.ops.training import default_pipeline
from mldeploy.serving import _threads
from mldeploy.serving.model import Model

import _models

pytestmark = pytest.mark.timeout(300)

ROWS = _threads.SLICED_MIN_ROWS * 2 + 123
"""Enough rows to be sliced, and not a multiple of the slice size."""


@functools.lru_cache(maxsize=None)
def _rows() -> pd.DataFrame:
    return salary.generate(ROWS, seed=21, drift=0.3).drop(columns=salary.TARGET)


@functools.lru_cache(maxsize=None)
def _bundles() -> dict[str, Bundle]:
    regressor, features = _models.salary_pipeline()
    labels = np.where(_models.salary_data()[salary.TARGET] > 100_000, "high", "low")
    classifier = default_pipeline(salary.COLUMNS, task="classification")
    classifier.set_params(model=HistGradientBoostingClassifier(max_iter=20, random_state=0))
    classifier.fit(features, labels)
    return {"regressor": Bundle.from_pipeline(regressor, features, name="salary"),
            "classifier": Bundle.from_pipeline(classifier, features, name="band")}


@pytest.mark.parametrize("kind", ["regressor", "classifier"])
def test_two_threads_give_the_one_thread_answer_to_the_bit(kind) -> None:
    bundle = _bundles()[kind]
    one, two = Model(bundle, threads=1), Model(bundle, threads=2)
    assert (one.threads, two.threads) == (1, 2)
    rows = _rows()
    expected, got = one.infer(rows), two.infer(rows)
    assert _threads.infer_sliced(two, rows, "reject", "as-given", 2) is not None  # sliced, not the one-thread fallback
    assert np.array_equal(got.values, expected.values)
    assert np.array_equal(got.values, one.pipeline.predict(rows))
    if kind == "classifier":
        assert np.array_equal(got.probabilities, expected.probabilities)
        assert np.array_equal(got.probabilities, one.pipeline.predict_proba(rows))
    records = rows.head(_threads.SLICED_MIN_ROWS + 7).to_dict("records")
    assert np.array_equal(two.infer(records).values, one.infer(records).values)


def test_a_bad_row_in_any_slice_is_named_by_its_row_in_the_whole_input() -> None:
    model = Model(_bundles()["regressor"], threads=2)
    rows = _rows().copy()
    rows["age"] = rows["age"].astype(object)
    rows.loc[5, "age"] = "old"
    rows.loc[ROWS - 2, "age"] = "older"
    with pytest.raises(SchemaError) as caught:
        model.infer(rows)
    assert [(issue.row, issue.field) for issue in caught.value.issues] == [(5, "age"), (ROWS - 2, "age")]


def test_rows_refused_in_any_slice_are_set_aside_with_their_positions_in_the_whole_input() -> None:
    bundle = _bundles()["regressor"]
    one, two = Model(bundle, threads=1), Model(bundle, threads=2)
    rows = _rows().copy()
    rows["age"] = rows["age"].astype(object)
    bad = [5, ROWS // 2, ROWS - 2]
    rows.loc[bad, "age"] = "old"
    expected, got = one.infer_accepted(rows), two.infer_accepted(rows)
    assert _threads.infer_sliced(two, rows, "reject", "as-given", 2, accepted=True) is not None  # not the fallback
    assert list(got.refused) == bad
    assert got.refused == expected.refused
    assert [issue.row for position in bad for issue in got.refused[position]] == bad
    assert np.array_equal(got.prediction.values, expected.prediction.values)
    assert got.hint == expected.hint


def test_with_several_helpers_every_slice_is_computed_once_and_put_back_in_order() -> None:
    bundle = _bundles()["regressor"]
    one, four = Model(bundle, threads=1), Model(bundle, threads=4)
    computed = []
    compute = four.compute
    four.compute = lambda prepared: computed.append(prepared.rows) or compute(prepared)
    got = _threads.infer_sliced(four, _rows(), "reject", "as-given", 4)
    assert got is not None and np.array_equal(got.values, one.infer(_rows()).values)
    assert sum(computed) == ROWS and len(computed) == -(-ROWS // _threads._MIN_SLICE_ROWS)  # slices of the minimum size


def test_a_slice_that_fails_to_compute_hands_the_input_back_to_the_one_thread_path() -> None:
    # a kernel failing on valid input is a fault no real input produces here: the compute call is replaced
    model = Model(_bundles()["regressor"], threads=2)
    compute, calls = model.compute, []

    def failing_third(prepared):
        calls.append(prepared.rows)
        if len(calls) == 3:
            raise RuntimeError("the kernel failed")
        return compute(prepared)

    model.compute = failing_third
    assert _threads.infer_sliced(model, _rows(), "reject", "as-given", 2) is None
    model.compute = compute
    assert _threads.infer_sliced(model, _rows(), "reject", "as-given", 2) is not None  # the pool's helper is free again


def test_a_call_whose_helper_waits_behind_another_call_computes_alone_and_does_not_wait() -> None:
    model, reference = Model(_bundles()["regressor"], threads=2), Model(_bundles()["regressor"], threads=1)
    busy, release = threading.Event(), threading.Event()
    _threads._pool(1).submit(lambda: busy.set() or release.wait(600))  # another call holds the only helper thread
    assert busy.wait(30)
    answers = []
    caller = threading.Thread(target=lambda: answers.append(_threads.infer_sliced(model, _rows(), "reject", "as-given", 2)))
    try:
        caller.start()
        caller.join(60)  # far less than the other call holds its helper
        assert not caller.is_alive(), "the call waited for the other call's helper"
    finally:
        release.set()
    assert np.array_equal(answers[0].values, reference.infer(_rows()).values)


def test_a_helper_that_cannot_start_hands_the_input_back_and_leaves_no_thread_waiting(monkeypatch) -> None:
    # a thread limit reached mid-call is a fault no test machine produces on demand: the pool's submit is wrapped
    model = Model(_bundles()["regressor"], threads=3)
    pool = _threads._pool(2)
    submit, submitted = pool.submit, []

    def second_fails(*args, **kwargs):
        if submitted:
            raise RuntimeError("can't start new thread")
        submitted.append(submit(*args, **kwargs))
        return submitted[-1]

    monkeypatch.setattr(pool, "submit", second_fails)
    assert _threads.infer_sliced(model, _rows(), "reject", "as-given", 3) is None
    submitted[0].result(timeout=60)  # the helper that did start was told to stop


def test_no_more_helpers_start_than_there_are_slices_to_share() -> None:
    model = Model(_bundles()["regressor"], threads=64)
    rows = _rows().head(_threads.SLICED_MIN_ROWS)  # four slices of the smallest size
    assert _threads.infer_sliced(model, rows, "reject", "as-given", 64) is not None
    helpers = [thread for thread in threading.enumerate() if thread.name.startswith("mldeploy-compute-63")]
    assert 1 <= len(helpers) <= 3


def test_threads_default_to_the_cores_this_process_may_use() -> None:
    assert Model(_bundles()["regressor"]).threads == _threads.available_cores()


@pytest.mark.parametrize("value", [0, -1, 1.5, "2", True, _threads.MAX_THREADS + 1])
def test_a_thread_count_that_is_not_a_whole_number_in_range_is_refused(value) -> None:
    with pytest.raises(ConfigError, match=rf"threads: expected a whole number from 1 to 256 .*got {value!r}"):
        Model(_bundles()["regressor"], threads=value)


def test_the_api_predicts_on_one_thread(tmp_path) -> None:
    from concurrent.futures import ThreadPoolExecutor

    import mldeploy
    from mldeploy.api.catalog import Catalog
    from mldeploy.api.config import ApiConfig
    from mldeploy.api.metrics import ApiMetrics

    registry = mldeploy.Registry(root=tmp_path / "registry")
    registry.set_alias(registry.register(_bundles()["regressor"]), "production")
    config = ApiConfig(models=("salary:production",), registry=str(tmp_path / "registry"))
    with ThreadPoolExecutor(2) as executor, ThreadPoolExecutor(1) as loader:
        catalog = Catalog(config, executor, loader, ApiMetrics())
        try:
            served = catalog.get("salary")
            assert served.live.wait_ready(60)
            assert served.live.model.threads == 1
        finally:
            catalog.close()
    registry.close()


@pytest.mark.skipif(not hasattr(os, "fork"), reason="fork is a POSIX call")
def test_a_forked_child_gets_threads_of_its_own() -> None:
    model = Model(_bundles()["regressor"], threads=2)
    rows = _rows()
    expected = model.infer(rows).values  # the parent's pool now exists, and a child inherits no thread of it
    reader, writer = os.pipe()
    child = os.fork()
    if child == 0:  # the child answers through the pipe and leaves without running pytest's teardown
        same = np.array_equal(model.infer(rows).values, expected)
        os.write(writer, b"1" if same else b"0")
        os._exit(0)
    os.close(writer)
    with os.fdopen(reader, "rb") as answer:
        assert answer.read() == b"1"
    assert os.waitpid(child, 0)[1] == 0
