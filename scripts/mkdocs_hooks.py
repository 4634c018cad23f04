"""mkdocs hooks: the CLI reference page is generated from each command's --help at build time.

Whatever commands the command line has when the site is built are listed, in the order
`mldeploy --help` shows them, each with its --help text as a terminal shows it.
"""

from __future__ import annotations

MARKER = "<!-- mldeploy-cli-reference -->"
_WIDTH = 100


def on_page_markdown(markdown: str, page, config, files) -> str:
    """Replace the marker on the CLI reference page with every command's help."""
    if MARKER not in markdown:
        return markdown
    return markdown.replace(MARKER, cli_reference())


def cli_reference() -> str:
    """Markdown: the top-level help, then one section per command with its --help in a text block."""
    import typer.main

    from mldeploy.cli import commands  # noqa: F401  (registers the commands)
    from mldeploy.cli.app import app

    names = typer.main.get_command(app).list_commands(None)  # the group's order, as `mldeploy --help` shows it
    parts = ["## mldeploy", "", _fenced(_help([]))]
    for name in names:
        parts += ["", f"## mldeploy {name}", "", _fenced(_help([name]))]
    return "\n".join(parts)


def _help(args: list[str]) -> str:
    from typer.testing import CliRunner

    from mldeploy.cli.app import app

    result = CliRunner().invoke(app, [*args, "--help"], prog_name="mldeploy",
                                env={"COLUMNS": str(_WIDTH), "NO_COLOR": "1", "TERM": "dumb"}, terminal_width=_WIDTH)
    if result.exit_code != 0:
        raise RuntimeError(f"mldeploy {' '.join(args)} --help failed: {result.output[-500:]}")
    return "\n".join(line.rstrip() for line in result.output.strip("\n").splitlines())


def _fenced(text: str) -> str:
    return f"```text\n{text}\n```"
