"""The stream commands: publish, topic and stream-score, run through main() as a user would."""

import json
import re

import pytest

from _cli import run
from mldeploy.cli import main

pytestmark = pytest.mark.timeout(180)


def test_publish_then_list_the_topic(capsys, salary_registry, tmp_path):
    registry, url = str(salary_registry.root), f"local://{tmp_path}/log/models"
    code, out, _ = run(capsys, "--registry", registry, "publish", "salary@1", "--to", url)
    assert code == 0 and f"published salary@1 to {url}" in out and "unsigned" in out
    run(capsys, "--registry", registry, "publish", "salary@2", "--to", url)
    code, out, _ = run(capsys, "topic", url)
    assert code == 0 and f"Models on {url}" in out
    (row,) = [line for line in out.splitlines() if "salary" in line and "KiB" in line]
    assert "1, 2" in row and "│ 2 " in row and "│ no " in row
    assert re.search(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}", row)  # the publication time, whole


def test_global_options_work_after_the_command_too(capsys, salary_registry, tmp_path):
    url = f"local://{tmp_path}/log/models"
    code, out, err = run(capsys, "publish", "salary@1", "--to", url, "--registry", str(salary_registry.root))
    assert code == 0, err
    code, _, err = run(capsys, "publish", "salary@1", "--to", url, "--registry", str(tmp_path / "nowhere"))
    assert code == 2 and "nowhere" in err


def test_an_empty_topic_says_how_to_fill_it(capsys, tmp_path):
    url = f"local://{tmp_path}/log/models"
    code, out, _ = run(capsys, "topic", url)
    assert code == 0 and f"no models on {url} yet: run `mldeploy publish NAME@VERSION --to {url}`" in out


def test_stream_score_needs_kafka_topics(capsys, tmp_path):
    url = f"local://{tmp_path}/log/models"
    code, _, err = run(capsys, "stream-score", "--models", url, "--name", "salary", "--in", url, "--out", url)
    assert code == 2 and "stream-score reads and writes Kafka topics" in err


def test_a_bad_url_is_an_input_error(capsys):
    code, _, err = run(capsys, "topic", "http://example/models")
    assert code == 2 and "is not a stream URL: expected kafka://HOST:PORT/TOPIC or local:///FOLDER/TOPIC" in err


def test_stream_score_help_names_the_dead_letter_default(capsys):
    code, out, _ = run(capsys, "stream-score", "--help")
    assert code == 0 and "salary-requests.dead-letter" in " ".join(out.split()).replace("│", "").replace("  ", " ")


def test_send_then_read_events_on_a_local_log(capsys, tmp_path):
    import pandas as pd

    pd.DataFrame({"employee_id": [7, 8], "age": [29, None], "city": ["austin", "boston"]}).to_csv(tmp_path / "rows.csv", index=False)
    url = f"local://{tmp_path}/log/requests"
    code, out, err = run(capsys, "send", str(tmp_path / "rows.csv"), "--to", url, "--key", "employee_id")
    assert code == 0 and f"sent 2 events to {url}, keyed by employee_id" in out, err
    code, out, err = run(capsys, "read", url, "--limit", "1", "--timeout", "1")
    assert code == 0 and "First 1 message(s)" in out and '"age": 29.0' in out and "│ 7 " in out, err
    code, _, err = run(capsys, "send", str(tmp_path / "rows.csv"), "--to", url, "--key", "id")
    assert code == 2 and "--key 'id' is not a column of the table" in err


def test_a_scorer_that_seems_stuck_prints_each_threads_stack_on_sigusr1_and_carries_on(tmp_path):
    """While it waits for a broker that is not there, `kill -USR1` shows where it waits."""
    import signal
    import subprocess
    import sys
    from itertools import takewhile

    from _services import free_port

    broker = f"kafka://127.0.0.1:{free_port()}"  # nothing listens there: the scorer waits for the topic's metadata
    process = subprocess.Popen(
        [sys.executable, "-c", "from mldeploy.cli import main; main()", "stream-score", "--models",
         f"local://{tmp_path}/log/models", "--name", "salary", "--in", f"{broker}/in", "--out", f"{broker}/out"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert process.stdout.readline().startswith("scoring ")  # the dump is set up before this line
        process.send_signal(signal.SIGUSR1)
        dump = list(takewhile(lambda line: "in stream_score" not in line, iter(process.stderr.readline, "")))
        assert any("Current thread" in line for line in dump), dump  # an exit would end the lines without one
        assert process.poll() is None, "SIGUSR1 stopped the scorer"
    finally:
        process.kill()
        process.communicate(timeout=30)
