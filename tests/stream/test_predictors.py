"""A scorer's predictors: on a worker thread, or in a process of their own, with the same answers."""

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from contextlib import contextmanager

import pytest

import mldeploy
from mldeploy.errors import ConfigError, NotReadyError, PredictionError
from mldeploy.stream import publish
from mldeploy.stream.predictors import ModelSpec, ProcessPredictor, ThreadPredictor
from mldeploy.stream.scoring import score_batch

import _models

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]  # starts and kills prediction processes

ROWS = [{k: (None if v != v else v) for k, v in row.items()}
        for row in _models.salary_data().drop(columns="salary").head(300).to_dict(orient="records")]
GOOD = [json.dumps(row).encode() for row in ROWS]
MIXED = [GOOD[0], b"{not json", json.dumps(ROWS[1] | {"age": "old"}).encode(), b"[1]", GOOD[2]]


@pytest.fixture(scope="module")
def model_url(tmp_path_factory, salary_registry) -> str:
    url = f"local://{tmp_path_factory.mktemp('models')}/log/models"
    publish(salary_registry.get("salary@1"), url)
    return url


@pytest.fixture(scope="module")
def in_process(model_url):
    with mldeploy.subscribe(model_url, "salary") as live:
        assert live.wait_ready(60)
        yield live


@pytest.fixture(scope="module")
def process_predictor(model_url):
    predictor = ProcessPredictor(ModelSpec(model_url, "salary"))
    assert predictor.wait_ready(60)
    yield predictor
    predictor.close()


@pytest.mark.parametrize("values", [GOOD, MIXED, [b"{}"], [b"nope"]], ids=["valid", "mixed", "missing fields", "all bad"])
def test_the_prediction_process_answers_what_this_process_would(process_predictor, in_process, values):
    assert process_predictor.submit(values)() == score_batch(in_process, values)


def test_a_worker_thread_answers_the_same(in_process):
    predictor = ThreadPredictor(in_process)
    try:
        outcomes = [predictor.submit(values) for values in (GOOD, MIXED)]  # both in flight at once
        assert [outcome() for outcome in outcomes] == [score_batch(in_process, GOOD), score_batch(in_process, MIXED)]
    finally:
        predictor.close()


def test_answers_to_batches_dropped_by_a_rewind_are_skipped(process_predictor, in_process):
    process_predictor.submit(GOOD)  # never asked for, as when the scorer rewinds past it
    process_predictor.submit(MIXED)
    assert process_predictor.submit(GOOD[:3])() == score_batch(in_process, GOOD[:3])


def test_a_model_topic_without_a_version_is_not_ready(tmp_path):
    predictor = ProcessPredictor(ModelSpec(f"local://{tmp_path}/log/models", "salary"))
    try:
        assert predictor.wait_ready(0.5) is False
        with pytest.raises(NotReadyError, match="no version of the model serves yet"):
            predictor.submit(GOOD[:2])()
    finally:
        predictor.close()


def test_an_error_met_while_subscribing_is_raised_by_the_scorer():
    with pytest.raises(ConfigError, match="is not a stream URL"):
        ProcessPredictor(ModelSpec("http://example/models", "salary"))


def test_a_prediction_process_that_dies_stops_the_scorer_with_its_exit_code(model_url):
    predictor = ProcessPredictor(ModelSpec(model_url, "salary"))
    try:
        assert predictor.wait_ready(60)
        os.kill(predictor._process.pid, signal.SIGKILL)
        with pytest.raises(PredictionError, match=r"prediction process exited \(code -9\)"):
            predictor.submit(GOOD[:2])()
    finally:
        predictor.close()


def test_a_killed_scorer_takes_its_prediction_process_with_it(model_url):
    script = textwrap.dedent(f"""
        import time
        from mldeploy.stream.predictors import ModelSpec, ProcessPredictor
        if __name__ == "__main__":
            predictor = ProcessPredictor(ModelSpec({model_url!r}, "salary"))
            print(predictor._process.pid, flush=True)
            time.sleep(600)
    """)
    scorer = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        child = int(scorer.stdout.readline())
        assert _running(child)
    finally:
        scorer.kill()
        scorer.wait(30)
    deadline = time.monotonic() + 30
    while _running(child):
        assert time.monotonic() < deadline, "the prediction process outlived its scorer by 30 s"
        time.sleep(0.05)


def _running(pid: int) -> bool:
    """Whether ``pid`` runs (an exited process nobody has reaped yet is a zombie: not running)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def test_the_prediction_process_prints_its_threads_stacks_on_sigusr1_and_answers_after(model_url, capfd):
    predictor = ProcessPredictor(ModelSpec(model_url, "salary"))
    try:
        assert predictor.wait_ready(60)
        os.kill(predictor._process.pid, signal.SIGUSR1)
        assert predictor.submit(GOOD[:3])().predictions  # the signal did not stop it
        err, deadline = "", time.monotonic() + 30
        while "in _serve" not in err and time.monotonic() < deadline:  # the dump reaches the shared stderr on its own
            err += capfd.readouterr().err
            time.sleep(0.05)
        assert "in _serve" in err
    finally:
        predictor.close()


@contextmanager
def _stopped_predictor(model_url: str, monkeypatch, limit_s: float):
    """A prediction process that stops (SIGSTOP: alive, silent, reading nothing), with the scorer's bound at ``limit_s``."""
    from mldeploy.stream import predictors

    predictor = ProcessPredictor(ModelSpec(model_url, "salary"))
    try:
        assert predictor.wait_ready(60)
        monkeypatch.setattr(predictors, "_ANSWER_LIMIT_S", limit_s)
        os.kill(predictor._process.pid, signal.SIGSTOP)
        yield predictor
    finally:
        predictor.close(timeout_s=2)  # a stopped process is killed, not waited for


def test_a_prediction_process_that_stops_answering_is_an_error_not_a_wait_for_good(model_url, monkeypatch):
    with _stopped_predictor(model_url, monkeypatch, 1.0) as predictor:
        outcome = predictor.submit(GOOD[:3])
        with pytest.raises(PredictionError, match=rf"pid {predictor._process.pid}\) has not answered in 1 s; "
                                                  rf"`kill -USR1 {predictor._process.pid}`"):
            outcome()
    assert not predictor._process.is_alive()


def test_a_prediction_process_that_takes_no_more_requests_is_an_error_too_and_closes(model_url, monkeypatch):
    with _stopped_predictor(model_url, monkeypatch, 0.5) as predictor:
        with pytest.raises(PredictionError, match=r"has taken no request in 0 s; `kill -USR1"):
            for _ in range(2_000):  # until the pipe (a few MB) is full: its reader no longer empties it
                predictor.submit(GOOD)
    assert not predictor._process.is_alive()
