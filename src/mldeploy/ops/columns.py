"""Choose and check the feature columns of a training table before anything is fitted.

Every check here runs in well under a second on 50,000 rows, so an ordinary
table mistake (an id column, a stray word in a numeric column, a typo in a
column name) costs the user no training run.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import pandas as pd

from mldeploy.errors import ConfigError

__all__ = ["ColumnKinds", "check_numeric_text", "choose_features", "column_kinds_of"]

# A numeric column this skewed (and never negative) also gets a log1p feature.
_SKEW_FOR_LOG = 2.0
_MAX_CATEGORIES = 200
# A text column whose non-empty cells parse as numbers this often is a numeric column with typos.
_MOSTLY_NUMERIC = 0.9
_CELLS_SHOWN = 5


@dataclass(frozen=True)
class ColumnKinds:
    """Which input columns the default pipeline treats as numbers, categories and flags."""

    numeric: tuple[str, ...] = ()
    categorical: tuple[str, ...] = ()
    boolean: tuple[str, ...] = ()
    log_numeric: tuple[str, ...] = ()
    """Numeric columns that also get a derived log1p feature."""


def choose_features(frame: pd.DataFrame, target: str, drop: Iterable[str] = (), features: Sequence[str] | None = None) -> pd.DataFrame:
    """Return the feature columns: ``features`` if given (else every column but the target), minus ``drop``.

    Raises ConfigError naming any column that is not in the table, and a target
    listed among the features (it would leak the answer into the model).
    """
    drop = list(drop)
    unknown = [c for c in [*drop, *(features or [])] if c not in frame.columns]
    if unknown:
        raise ConfigError(
            f"column(s) {', '.join(map(repr, unknown))} not in the data; columns are: {', '.join(map(str, frame.columns))}"
        )
    if features is not None and target in features:
        raise ConfigError(f'the target "{target}" is also listed as a feature; leave it out of the features')
    chosen = list(features) if features is not None else [c for c in frame.columns if c != target]
    chosen = [c for c in chosen if c not in drop]
    if not chosen:
        raise ConfigError("no feature columns are left after --drop/--features; keep at least one")
    return frame[chosen]


def check_numeric_text(features: pd.DataFrame) -> None:
    """Refuse a text column whose cells are nearly all numbers, naming the cells that are not.

    Such a column is a numeric column with a few typos ("approx 120", "unknown");
    trained as it is, it would silently become a category.
    """
    for name in features.columns:
        column = features[name]
        if pd.api.types.is_numeric_dtype(column) or pd.api.types.is_bool_dtype(column):
            continue
        filled = column.dropna()
        filled = filled[filled.astype(str).str.strip() != ""]
        parsed = pd.to_numeric(filled, errors="coerce")
        bad = filled[parsed.isna()]
        if len(filled) and not bad.empty and len(bad) <= (1 - _MOSTLY_NUMERIC) * len(filled):
            raise ConfigError(_numeric_text_message(name, bad, len(filled)))


def _numeric_text_message(name: str, bad: pd.Series, filled: int) -> str:
    cells = ", ".join(f"row {row} {str(value)!r}" for row, value in bad.head(_CELLS_SHOWN).items())
    more = f" and {len(bad) - _CELLS_SHOWN} more" if len(bad) > _CELLS_SHOWN else ""
    return (
        f'column "{name}" holds numbers in {filled - len(bad):,} of {filled:,} filled rows but {len(bad):,} '
        f"cell(s) are not numbers: {cells}{more} (rows count from 0 after the header); "
        f"should they be empty? fix or empty those cells, or leave the column out with --drop {name}"
    )


def column_kinds_of(frame: pd.DataFrame) -> ColumnKinds:
    """Sort a frame's columns into numeric, categorical and boolean by dtype."""
    numeric, categorical, boolean, logged = [], [], [], []
    for name in frame.columns:
        column = frame[name]
        if pd.api.types.is_bool_dtype(column):
            boolean.append(name)
        elif pd.api.types.is_numeric_dtype(column):
            numeric.append(name)
            if column.min() >= 0 and column.skew() > _SKEW_FOR_LOG:
                logged.append(name)
        elif column.nunique() <= _MAX_CATEGORIES:
            categorical.append(name)
        else:
            raise ConfigError(
                f'column "{name}" has {column.nunique():,} distinct text values; the default pipeline '
                f"one-hot encodes at most {_MAX_CATEGORIES}: leave it out (--drop {name}) or pass --pipeline module:factory"
            )
    return ColumnKinds(tuple(numeric), tuple(categorical), tuple(boolean), tuple(logged))
