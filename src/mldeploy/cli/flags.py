"""Show flags in ``--help`` without a value placeholder.

typer's rich help prints every option's type, so a flag such as
``--ignore-extra`` appeared as ``--ignore-extra <bool>``, and users typed
``--ignore-extra true``, which is then refused as an extra argument. A flag
takes no value, so its help shows none.
"""

from __future__ import annotations

from typer.core import TyperGroup

__all__ = ["FlagGroup"]


class FlagGroup(TyperGroup):
    """The command group: each command's flags, ``--help`` included, show no value placeholder."""

    def get_command(self, ctx, cmd_name):
        """Return the command with its flags' placeholders hidden."""
        command = super().get_command(ctx, cmd_name)
        if command is not None:
            _hide_flag_types(command, ctx)
        return command

    def get_help_option(self, ctx):
        """Return the group's ``--help`` option without a placeholder."""
        option = super().get_help_option(ctx)
        _hide_type(option)
        return option


def _hide_flag_types(command, ctx) -> None:
    for param in command.params:
        _hide_type(param)
    # The command builds its --help option once and keeps it, so hiding it here lasts.
    _hide_type(command.get_help_option(ctx))


def _hide_type(param) -> None:
    if param is not None and getattr(param, "is_flag", False) and not getattr(param, "count", False) and param.metavar is None:
        param.metavar = ""
