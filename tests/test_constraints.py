"""Declared bounds: each config refuses the values just outside every bounded field, naming the field."""

from __future__ import annotations

import re
from dataclasses import dataclass

import pytest

from mldeploy._constraints import Between, bounded, check_fields, constraints_of
from mldeploy.api.config import ApiConfig
from mldeploy.batch.job_config import BatchJobConfig
from mldeploy.errors import ConfigError
from mldeploy.stream.scorer_config import ScorerConfig
from mldeploy.stream.transport import parse_url


def _api(**values):
    return ApiConfig(models=("salary",), **values)


def _scorer(**values):
    return ScorerConfig(parse_url("kafka://127.0.0.1:9/in"), parse_url("kafka://127.0.0.1:9/out"), **values)


CONFIGS = {ApiConfig: _api, ScorerConfig: _scorer, BatchJobConfig: BatchJobConfig}
CASES = [(make, name, bad) for cls, make in CONFIGS.items() for name, bounds in constraints_of(cls).items()
         for bad in bounds.invalid_values()]


@pytest.mark.parametrize("make, name, bad", CASES, ids=[f"{n}={b}" for _, n, b in CASES])
def test_every_bounded_field_refuses_values_outside_its_bounds(make, name, bad):
    with pytest.raises(ConfigError, match=rf"^{re.escape(name)}( \(--[a-z0-9-]+\))? must be (in \[|at least)"):
        make(**{name: bad})


COMMANDS = {ApiConfig: "serve", ScorerConfig: "stream-score", BatchJobConfig: "batch"}


@pytest.mark.parametrize("cls", list(CONFIGS))
def test_each_flag_an_error_names_is_an_option_of_its_command(cls):
    import typer.main

    from mldeploy.cli import commands  # noqa: F401  (registers the commands)
    from mldeploy.cli.app import app

    command = typer.main.get_command(app).commands[COMMANDS[cls]]
    options = {option for param in command.params for option in param.opts}
    named = {}
    for name, bounds in constraints_of(cls).items():
        with pytest.raises(ConfigError) as refused:
            CONFIGS[cls](**{name: bounds.invalid_values()[0]})
        flag = re.match(r"^\S+ \((--[a-z0-9-]+)\)", str(refused.value))
        if flag:
            named[name] = flag.group(1)
    assert named and set(named.values()) <= options, set(named.values()) - options


@pytest.mark.parametrize("cls", list(CONFIGS))
def test_defaults_lie_within_their_bounds(cls):
    CONFIGS[cls]()  # raises if a default broke its own bound


def test_a_bound_is_worded_with_the_received_value_and_none_is_left_unchecked():
    @dataclass(frozen=True)
    class Settings:
        port: int | None = bounded(None, 0, 65535)
        rate: float = bounded(0.5, 0.01)

        def __post_init__(self):
            check_fields(self)

    Settings()
    with pytest.raises(ConfigError, match=re.escape("port must be in [0, 65535], got 70000")):
        Settings(port=70000)
    with pytest.raises(ConfigError, match=re.escape("rate must be at least 0.01, got 0")):
        Settings(rate=0)
    with pytest.raises(ConfigError, match=re.escape("rate must be a number, got 'fast'")):
        Settings(rate="fast")
    assert Between(1, 64).invalid_values() == [0, 65] and Between(0.5).describe() == "at least 0.5"
