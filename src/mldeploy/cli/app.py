"""The command-line application, its shared options and its error handling.

Input errors (bad file, bad reference, bad rows) exit with code 2 and one
line saying what to do; failures of a database or other system exit with 1.
"""

from __future__ import annotations

import sys
from pathlib import Path

import typer
from rich.console import Console

from mldeploy.cli.errors import exit_code, hint_for
from mldeploy.cli.flags import FlagGroup
from mldeploy.errors import ConfigError, MldeployError, shorten

__all__ = ["app", "main", "console", "state"]

console = Console(soft_wrap=True)
errors = Console(stderr=True, soft_wrap=True)

app = typer.Typer(
    name="mldeploy",
    cls=FlagGroup,
    help=(
        "Deploy whole machine-learning pipelines (feature engineering, selection and model).\n\n"
        "Start with `mldeploy demo`, or: `mldeploy train --data salaries.csv --target salary --name salary`, "
        "then `mldeploy alias salary@1 production` and `mldeploy predict salary:production --input rows.csv`."
    ),
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode="markdown",
    pretty_exceptions_enable=False,
)


class State:
    """Options shared by every command, set by the top-level callback."""

    registry: str | None = None
    public_key: bytes | None = None

    def open_registry(self, create: bool = False):
        """Open the registry named by --registry (a folder or a database URL); only writers pass ``create``."""
        from mldeploy.registry import open_registry

        return open_registry(self.registry, public_key=self.public_key, create=create)


state = State()


@app.callback()
def _options(
    registry: str = typer.Option(
        None, "--registry", envvar="MLDEPLOY_REGISTRY",
        help="Registry folder (default ./.mldeploy, sqlite inside) or database URL, e.g. postgresql://user@host/db.",
    ),
    public_key: str = typer.Option(
        None, "--public-key", envvar="MLDEPLOY_PUBLIC_KEY",
        help="Ed25519 public key file (from `mldeploy keygen`): refuse every bundle not signed by it.",
    ),
) -> None:
    state.registry = registry
    state.public_key = read_public_key(public_key) if public_key else None


def read_public_key(path: str | Path) -> bytes:
    """Read and check an Ed25519 public key file for a ``--public-key`` option; return its PEM bytes."""
    from mldeploy.bundle.signing import load_public_key

    try:
        data = open(path, "rb").read()
    except OSError as exc:
        raise ConfigError(f"cannot read --public-key {path}: {exc.strerror}; give the .pub file from `mldeploy keygen`") from exc
    load_public_key(data)  # fail now on a key that is not an Ed25519 public key
    return data


def write_output(out: Path, data: bytes) -> None:
    """Write a command's output file, creating its folder; a failure says which path and what to do."""
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_bytes(data)
    except OSError as exc:
        raise ConfigError(f"cannot write {out}: {exc.strerror}; choose a writable path") from exc


def main(argv: list[str] | None = None) -> None:
    """Run the command line and turn every expected error into one line and an exit code."""
    from mldeploy.cli import commands  # noqa: F401  (registers the commands)

    try:
        app(args=argv, prog_name="mldeploy")  # usage errors: typer prints them and exits 2
    except MldeployError as exc:
        hint = hint_for(exc)
        _say(f"error: {exc}" + (f"; {hint}" if hint else ""))
        sys.exit(exit_code(exc))
    except KeyboardInterrupt:
        _say("error: interrupted")
        sys.exit(130)
    except Exception as exc:  # the outermost loop: a bug still gets one line, never a traceback
        _say(f"error: unexpected {type(exc).__name__}: {shorten(exc, 500)}; this is a bug in mldeploy, "
             "please report it with the command you ran")
        sys.exit(1)


def _say(message: str) -> None:
    """Print one line on stderr: a message that quotes the user's input may hold line breaks."""
    errors.print(" ".join(message.splitlines()), markup=False, highlight=False)

