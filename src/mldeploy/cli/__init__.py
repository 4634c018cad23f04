"""The ``mldeploy`` command line: thin commands over the library."""

from mldeploy.cli.app import app, main

__all__ = ["app", "main"]
