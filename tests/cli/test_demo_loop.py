"""The demo's freshness step: drift found, a gate table, and a promotion reaching a running server."""

import pytest

from mldeploy.cli._demo_loop import loop_step
from mldeploy.examples import salary
from mldeploy.ops.registering import train_and_register
from mldeploy.registry import Registry

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]  # runs the demo's whole loop step


def test_loop_step_finds_drift_gates_and_the_server_swaps(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")
    with Registry(root=tmp_path / "registry") as registry:
        train_and_register(salary.generate(3000, seed=7), "salary", registry=registry, alias="production",
                           factory=lambda: salary.default_pipeline(max_iter=25))
        loop_step(registry, tmp_path / "demo", step=9)
        assert registry.aliases("salary") == {"production": 2}
    out = " ".join(capsys.readouterr().out.split())
    assert "Gate: salary@2 against salary@1" in out and "edge rows" in out
    assert "9. keeping it fresh" in out and "drift found" in out and "promoted: promoted salary@2 over salary@1" in out
    assert "with salary@1, then $" in out and "with salary@2;" in out
