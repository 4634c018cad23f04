"""ApiConfig refuses bad values with a message naming the value, and survives pickling (worker processes)."""

import pickle
import re

import pytest

from mldeploy.api.config import ApiConfig
from mldeploy.errors import ConfigError

pytestmark = pytest.mark.timeout(30)


@pytest.mark.parametrize(("changes", "message"), [
    ({"models": ()}, "give at least one model to serve"),
    ({"models": ("salary:production", "salary@2")}, "each model name may be served once"),
    ({"models": ("no such!",)}, "is not a model reference"),
    ({"port": 70000}, "port (--port) must be in [0, 65535], got 70000"),
    ({"workers": 0}, "workers (--workers) must be in [1, 64], got 0"),
    ({"grpc_port": 70000}, "grpc_port (--grpc-port) must be in [0, 65535], got 70000"),
    ({"port": 8080, "grpc_port": 8080}, "--grpc-port and --port are both 8080; give gRPC a port of its own"),
    ({"max_batch_rows": 0}, "max_batch_rows (--max-batch-rows) must be in"),
    ({"token": "  "}, "the API token is empty"),
])
def test_bad_values_are_refused(changes, message):
    with pytest.raises(ConfigError, match=re.escape(message)):
        ApiConfig(**{"models": ("salary:production",), **changes})


def test_defaults_bind_loopback_and_the_config_pickles_without_showing_its_token():
    config = ApiConfig(models=("salary:production",), token="secret")
    assert config.host == "127.0.0.1" and config.max_wait_ms == 0
    assert pickle.loads(pickle.dumps(config)) == config
    assert "secret" not in repr(config)
