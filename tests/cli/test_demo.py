"""The demo's hints work as printed."""

from pathlib import Path

import pytest

import mldeploy
from mldeploy.cli.demo import install_command

pytestmark = pytest.mark.timeout(30)

CHECKOUT = Path(mldeploy.__file__).resolve().parents[2]


def test_the_wheel_hint_installs_mldeploy_from_this_checkout_in_the_same_command(monkeypatch, tmp_path):
    # A fresh environment has no mldeploy and PyPI has none either: pip must get it from the checkout.
    # (tests/embedded/test_wheel.py installs a checkout and a wheel in one command into a fresh venv.)
    monkeypatch.chdir(CHECKOUT)
    wheel = CHECKOUT / ".mldeploy" / "demo" / "salary_model-1-py3-none-any.whl"
    assert install_command(wheel) == "pip install . .mldeploy/demo/salary_model-1-py3-none-any.whl"
    monkeypatch.chdir(tmp_path)
    assert install_command(wheel) == f"pip install {CHECKOUT} {wheel}"


def test_the_demo_ends_with_the_careers_site_command_on_its_registry(monkeypatch):
    from mldeploy.cli.app import state
    from mldeploy.cli.demo import careers_site_command

    monkeypatch.setattr(state, "registry", None)
    assert careers_site_command() == "mldeploy example careers-site --port 8000 --mode embedded"
    monkeypatch.setattr(state, "registry", "/tmp/my models")
    assert careers_site_command() == "mldeploy --registry '/tmp/my models' example careers-site --port 8000 --mode embedded"
