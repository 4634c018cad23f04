"""The demo's dedicated-model-API step: one server answers over REST and gRPC alike, then swaps when the alias moves."""

import pytest

from mldeploy.cli._demo_api import api_step
from mldeploy.examples import salary
from mldeploy.registry import Registry

import _bundles

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]  # starts a server and moves an alias under it


def test_api_step_answers_both_ways_and_swaps_when_the_alias_moves(tmp_path, capsys):
    bundle = _bundles.salary_bundle_at(tmp_path / "bundle", compile=False)
    with Registry(root=tmp_path / "registry") as registry:
        registry.set_alias(registry.register(bundle), "production")
        registry.register(bundle)
        api_step(registry, salary.generate(10, seed=5), step=7)
    out = " ".join(capsys.readouterr().out.split())
    assert "7. dedicated model API" in out and "with salary@1 (gRPC ModelInfer on 127.0.0.1:" in out
    assert "answered $" in out and "with salary@2" in out
    shown = [part.split(" with ")[0] for part in out.split("estimated ")[1:2]]
    assert shown and f"{shown[0]}, salary@1" in out  # the gRPC answer is the REST answer
