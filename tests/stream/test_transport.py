import pytest

from mldeploy.errors import ConfigError
from mldeploy.stream.transport import chunk_topic, parse_url


@pytest.mark.parametrize(("url", "topic", "expected"), [
    ("kafka://127.0.0.1:9092/models", None, ("kafka", "127.0.0.1:9092", "models")),
    ("kafka://127.0.0.1:9092", None, ("kafka", "127.0.0.1:9092", "models")),
    ("kafka://127.0.0.1:9092/models", "models-eu", ("kafka", "127.0.0.1:9092", "models-eu")),
    ("local:///tmp/log/models", None, ("local", "/tmp/log", "models")),
    ("local:///tmp/log/models", "models-canary", ("local", "/tmp/log", "models-canary")),
])
def test_urls_name_a_place_and_a_topic(url, topic, expected):
    location = parse_url(url, topic)
    assert (location.scheme, location.where, location.topic) == expected
    assert parse_url(location.url()) == parse_url(url, topic)


@pytest.mark.parametrize(("url", "message"), [
    ("kafka:///models", "names no broker: expected kafka://HOST:PORT/TOPIC"),
    ("kafka://host/models", "names no broker"),
    ("local://relative/models", "is not a local log: expected local:///FOLDER/TOPIC"),
    ("http://127.0.0.1/models", "is not a stream URL"),
    ("kafka://127.0.0.1:9092/bad topic", 'topic "bad topic" is not valid'),
])
def test_bad_urls_say_what_is_expected(url, message):
    with pytest.raises(ConfigError, match=message):
        parse_url(url)


def test_chunks_live_on_their_own_topic():
    assert chunk_topic("models") == "models.chunks"
