"""Flags show no value placeholder in --help: `--ignore-extra`, never `--ignore-extra <bool>`."""

import pytest

from mldeploy.cli import app, main

pytestmark = pytest.mark.timeout(60)


def help_of(capsys, *command) -> str:
    with pytest.raises(SystemExit):
        main([*command, "--help"])
    return capsys.readouterr().out


def test_no_command_shows_a_bool_placeholder(capsys):
    import typer.main

    from mldeploy.cli import commands  # noqa: F401  (registers the commands, as main() does)

    commands = sorted(typer.main.get_command(app).commands)
    assert {"train", "predict", "delete", "embed"} <= set(commands)
    for command in [(), *((name,) for name in commands)]:
        text = help_of(capsys, *command)
        assert "<bool>" not in text, f"mldeploy {' '.join(command)} --help shows <bool>"
        assert "--help" in text


def test_options_that_take_a_value_still_show_its_type(capsys):
    text = help_of(capsys, "predict")
    assert "--ignore-extra " in text and "<path>" in text
