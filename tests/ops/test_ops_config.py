"""ops.toml: declared keys only, each value checked, paths from the file's folder."""

from pathlib import Path

import pytest

from _freshness import MODEL_AND_DATA
from mldeploy.errors import ConfigError
from mldeploy.ops.config import BatchTarget, load_config

pytestmark = pytest.mark.timeout(30)

GOOD = MODEL_AND_DATA + """
[gate]
latency_budget_ms = 500
metrics = [{metric = "mae", tolerance = 0.05}, {metric = "r2", threshold = 0.8}]
slices = [{column = "city", min_rows = 50}]

[loop]
interval_s = 60

[drift]
psi = 0.3
city.unseen_share = 0.2

[[targets.batch]]
name = "nightly"
input = "people.parquet"
key = "employee_id"

[[targets.embedded]]
out = "wheels"
apps = ["careers-site"]
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "ops.toml"
    path.write_text(text)
    return path


def test_a_full_config_is_read_with_paths_from_its_folder(tmp_path):
    config = load_config(write(tmp_path, GOOD))
    assert (config.model.name, config.model.alias, config.model.target) == ("salary", "production", "salary")
    assert config.data.current == tmp_path / "current.parquet"
    assert [(r.metric, r.tolerance, r.threshold) for r in config.gate.metrics] == [("mae", 0.05, None), ("r2", 0.02, 0.8)]
    assert config.gate.slices[0].column == "city" and config.gate.latency_budget_ms == 500
    assert config.targets.batch == (BatchTarget("nightly", tmp_path / "people.parquet", "employee_id"),)
    assert config.targets.embedded[0].apps == ("careers-site",)
    assert config.loop.interval_s == 60 and config.drift == {"psi": 0.3, "city.unseen_share": 0.2}
    assert [t.label for t in config.targets.all] == ["batch:nightly", f"embedded:{tmp_path / 'wheels'}"]


@pytest.mark.parametrize("change, message", [
    (("[loop]", "[loop]\nintervl_s = 5"), 'unknown key "loop.intervl_s"; known keys there: interval_s, lock_lease_s'),
    (("[model]", "[model]\ncolour = 1"), 'unknown key "model.colour"'),
    (('name = "nightly"', 'name = "nightly"\nretries = 3'), 'unknown key "targets.batch[0].retries"'),
    (("[drift]", "[extra]\n[drift]"), 'unknown key "extra"'),
    (('{metric = "mae", tolerance = 0.05}', '{metric = "mape"}'), 'gate.metrics[0]: unknown metric "mape"'),
    (("threshold = 0.8", "threshold = 2.0"), "threshold 2.0 is impossible"),
    (('target = "salary"\n', ""), 'key "model.target" is required'),
    (("interval_s = 60", "interval_s = -1"), "loop.interval_s must be a number of seconds > 0"),
    (("psi = 0.3", "pis = 0.3"), "drift: unknown threshold 'pis'"),
    (('name = "salary"', 'name = "no such/name"'), "model:"),
])
def test_a_bad_config_is_refused_naming_the_key(tmp_path, change, message):
    with pytest.raises(ConfigError) as caught:
        load_config(write(tmp_path, GOOD.replace(*change, 1)))
    assert message in str(caught.value) and "ops.toml" in str(caught.value)


def test_a_missing_or_broken_file_is_refused_naming_it(tmp_path):
    with pytest.raises(ConfigError, match="cannot read the config .*missing.toml"):
        load_config(tmp_path / "missing.toml")
    with pytest.raises(ConfigError, match="is not valid TOML"):
        load_config(write(tmp_path, "[model"))
