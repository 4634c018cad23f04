"""`kill -USR1 PID` prints every thread's stack on stderr: how a long-running process that seems stuck says where.

The process carries on afterwards (faulthandler writes from the signal handler, no Python code runs).
"""

from __future__ import annotations

import faulthandler
import signal

__all__ = ["print_stacks_on_sigusr1"]


def print_stacks_on_sigusr1() -> None:
    """Print every thread's stack on SIGUSR1, where the OS has that signal and stderr is a file."""
    if not hasattr(signal, "SIGUSR1"):
        return  # not POSIX
    try:
        faulthandler.register(signal.SIGUSR1, all_threads=True)
    except (AttributeError, ValueError, RuntimeError, OSError):
        pass  # stderr is no file (a caller's capture): there is nowhere to print to
