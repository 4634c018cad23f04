"""Run the command line in the test process, as a user would type it."""

from __future__ import annotations

import pytest

from mldeploy.cli import main


def run(capsys, *argv) -> tuple[int, str, str]:
    """Run ``mldeploy ARGV...``; return (exit code, stdout, stderr)."""
    with pytest.raises(SystemExit) as done:
        main(list(argv))
    out = capsys.readouterr()
    return done.value.code or 0, out.out, out.err
