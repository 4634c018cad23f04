"""compare: the same rows through every architecture, measured, with the same predictions."""

from __future__ import annotations

import json

import pytest

import _models
from _cli import run
from mldeploy.bundle import Bundle
from mldeploy.errors import ConfigError
from mldeploy.ops.compare import compare
from mldeploy.registry import Registry

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]  # starts every architecture


@pytest.fixture(scope="module")
def registry_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("compare")
    pipeline, features = _models.salary_pipeline()
    with Registry(root=root / "registry") as registry:
        registry.set_alias(registry.register(Bundle.from_pipeline(pipeline, features, name="salary",
                                                                  directory=root / "bundle")), "production")
    return root / "registry"


def test_every_architecture_gives_the_same_predictions_and_is_measured(registry_root):
    with Registry(root=registry_root) as registry:
        result = compare("salary:production", registry, rows=300)
        assert [v.version for v in registry.versions("salary")] == [1] and registry.aliases("salary") == {"production": 1}
    names = [a.architecture for a in result.architectures]
    assert names == ["embedded", "API over HTTP", "API over gRPC", "stream (live model)", "batch (sqlite, lookup)"]
    assert result.same_predictions and all(a.max_difference == 0.0 for a in result.architectures)
    for a in result.architectures:
        assert 0 < a.one_row_p50_ms <= a.one_row_p99_ms and a.rows_per_s_bulk > 0 and a.new_version_s > 0
        assert a.real_time == (a.architecture != "batch (sqlite, lookup)")
    assert result.architectures[-1].rows_per_s_one_at_a_time is None


def test_compare_command_prints_json(registry_root, capsys):
    code, out, err = run(capsys, "--registry", str(registry_root), "compare", "salary:production", "--rows", "50", "--json")
    assert code == 0, err
    figures = json.loads(out)
    assert figures["same_predictions"] is True and figures["rows"] == 50 and len(figures["architectures"]) == 5


def test_bad_row_counts_are_refused(registry_root):
    with Registry(root=registry_root) as registry, pytest.raises(ConfigError, match=r"rows: expected a count in \[1,"):
        compare("salary:production", registry, rows=0)
