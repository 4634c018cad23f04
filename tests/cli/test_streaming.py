"""The stream commands: publish, topic and stream-score, run through main() as a user would."""

import json

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
