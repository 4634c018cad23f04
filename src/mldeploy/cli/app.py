"""The command-line application, its shared options and its error handling.

Input errors (bad file, bad reference, bad rows) exit with code 2 and one
line saying what to do; failures of a database or other system exit with 1.
"""

from __future__ import annotations

import atexit
import copy as _copy
import gc
import logging
import sys
from pathlib import Path

import typer
from rich.console import Console

from mldeploy.cli.errors import exit_code, hint_for
from mldeploy.cli.flags import FlagGroup
from mldeploy.errors import ConfigError, MldeployError, shorten

__all__ = ["app", "current_user", "main", "console", "state"]

console = Console(soft_wrap=True)
errors = Console(stderr=True, soft_wrap=True)

_REGISTRY_HELP = "Registry folder (default ./.mldeploy, sqlite inside) or database URL, e.g. postgresql://user@host/db."
_PUBLIC_KEY_HELP = "Ed25519 public key file (from `mldeploy keygen`): refuse every bundle not signed by it."


class _Group(FlagGroup):
    """The command group: ``--registry`` and ``--public-key`` are accepted before and after the command."""

    def get_command(self, ctx, cmd_name):
        """Return the command with the global options added, unless it has an option of that name of its own."""
        command = super().get_command(ctx, cmd_name)
        if command is not None:
            _add_global_options(command, self)
        return command


app = typer.Typer(
    name="mldeploy",
    cls=_Group,
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
        help=_REGISTRY_HELP,
    ),
    public_key: str = typer.Option(
        None, "--public-key", envvar="MLDEPLOY_PUBLIC_KEY",
        help=_PUBLIC_KEY_HELP,
    ),
) -> None:
    state.registry = registry
    state.public_key = read_public_key(public_key) if public_key else None


def _add_global_options(command, group) -> None:
    """Let ``mldeploy serve ... --registry X`` mean ``mldeploy --registry X serve ...``.

    The copies take no environment variable and change the state only when given, so a value given
    before the command stands unless the same option is given again after it (the later one wins).
    """
    taken = {name for param in command.params for name in getattr(param, "opts", ())}
    for param in group.params:
        setter = _GLOBAL_SETTERS.get(param.name)
        if setter is None or set(param.opts) & taken:
            continue
        copy = _copy.copy(param)
        copy.envvar, copy.expose_value, copy.default = None, False, None
        copy.callback = lambda ctx, _param, value, setter=setter: setter(value) if value is not None else None
        command.params.append(copy)


def _set_registry(value: str) -> None:
    state.registry = value


def _set_public_key(value: str) -> None:
    state.public_key = read_public_key(value)


_GLOBAL_SETTERS = {"registry": _set_registry, "public_key": _set_public_key}


def current_user() -> str:
    """Who runs this command, for the audit history (the login name from the environment)."""
    import getpass

    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no login name (a container without a passwd entry)
        return "unknown"


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

    # Library warnings (a Kafka broker that is down, a skipped version) as one line each, never bare text.
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    # At exit, the interpreter's last collection frees every module, class and function one by one: 0.27 s
    # of a 3.2 s batch job over 1 M rows. Frozen objects are left to the operating system instead
    # (registered here, not called, so a test calling main() in its own process frees as usual).
    atexit.register(gc.freeze)

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

