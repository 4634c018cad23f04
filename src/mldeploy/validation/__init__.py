"""Input validation: every row checked against a bundle's schema, every bad field of every bad row named.

Every entry point (Python, CLI, HTTP, gRPC, stream, batch) reaches it through the
serving core, so a bad row gets the same words everywhere:

- :mod:`~mldeploy.validation.checks`: :func:`validate` in bulk, vectorised per column;
- :mod:`~mldeploy.validation.fast_row` and :mod:`~mldeploy.validation.fast_columns`: the
  serving core's fast paths for one row and for clean columns, which fall back to ``validate``
  to word any problem;
- :mod:`~mldeploy.validation.coercion`: text to numbers and booleans, as training saw them.
"""

from mldeploy.validation.checks import validate, validate_frame, validate_records

__all__ = ["validate", "validate_frame", "validate_records"]
