"""Turn an Arrow chunk into the key strings and the feature frame the serving core validates.

Keys are stored as text: whole numbers print without a fraction ("10042"),
so ``store.get("salary", "10042")`` finds a key read as an integer. CSV
columns arrive as text and are typed here by the model's schema; a column
with a value that does not convert stays text, and the serving core's
validation then names the row and the value.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from mldeploy._extras import require

__all__ = ["feature_frame", "key_strings", "typed_table"]

_ARROW_TYPES = {"number": "float64", "integer": "int64", "boolean": "bool"}


def key_strings(column) -> np.ndarray:
    """Return an Arrow key column as an object array of str (None where the key is missing)."""
    pa, pc = require("pyarrow"), require("pyarrow.compute")
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks()
    if pa.types.is_floating(column.type):
        whole = pc.all(pc.equal(pc.floor(column), column)).as_py()
        column = pc.cast(column, pa.int64()) if whole in (True, None) else column
    if not pa.types.is_string(column.type) and not pa.types.is_large_string(column.type):
        column = pc.cast(column, pa.string())
    return column.to_numpy(zero_copy_only=False)


def feature_frame(table, schema, text_columns: bool, columns: list[str] | None = None) -> pd.DataFrame:
    """Return the feature columns (default: the schema's fields) of an Arrow table as a DataFrame for ``infer``.

    ``text_columns`` says the input was read as text (CSV): numbers and
    booleans are then converted, each column all at once, where they can be.
    """
    if text_columns:
        table = typed_table(table, schema)
    return table.select(columns or schema.names).to_pandas(split_blocks=True, self_destruct=True)


def typed_table(table, schema):
    """Return an Arrow table read as text with each schema field's column converted to its type where it converts."""
    pa, pc = require("pyarrow"), require("pyarrow.compute")
    for field in schema.fields:
        target = _ARROW_TYPES.get(field.type)
        if target is None or field.name not in table.column_names:
            continue
        index = table.schema.get_field_index(field.name)
        column = table.column(index)
        for kind in ((target, "float64") if target == "int64" else (target,)):
            try:
                column = pc.cast(column, pa.type_for_alias(kind))
                break
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
                continue  # a value that doesn't convert: leave the text to the validator, which names it
        table = table.set_column(index, field.name, column)
    return table
