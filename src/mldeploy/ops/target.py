"""Decide the task a target column asks for, and refuse targets no model can learn in reasonable time."""

from __future__ import annotations

import pandas as pd

from mldeploy.bundle.options import check_task as _task_choice
from mldeploy.errors import ConfigError

__all__ = ["check_target", "check_task", "task_of_target"]

# Gradient boosting fits one tree per class per round, so thousands of classes run for hours;
# and a class needs several rows to be learned at all.
_MAX_CLASSES = 100
_MIN_ROWS_PER_CLASS = 5
_FEW_INTEGERS = 20


def task_of_target(target: pd.Series) -> str:
    """Return "classification" for text, boolean or few-valued integer targets, else "regression"."""
    if not pd.api.types.is_numeric_dtype(target) or pd.api.types.is_bool_dtype(target):
        return "classification"
    if pd.api.types.is_integer_dtype(target) and target.nunique() <= _FEW_INTEGERS:
        return "classification"
    return "regression"


def check_task(task: str | None) -> None:
    """Refuse a task that is neither None (infer it) nor a :class:`~mldeploy.bundle.options.Task`."""
    if task is not None:
        _task_choice(task)


def check_target(frame: pd.DataFrame, target: str, task: str | None = None) -> str:
    """Return the task for ``target`` (``task`` if given, else inferred), refusing a target that cannot work.

    Raises ConfigError for a missing or partly empty target, a text target asked
    to be a regression, and a classification target with more classes than the
    rows can teach (an id column, usually), before any training starts.
    """
    check_task(task)
    if target not in frame.columns:
        raise ConfigError(f'target column "{target}" is not in the data; columns are: {", ".join(map(str, frame.columns))}')
    labels = frame[target]
    _check_filled(labels, target)
    chosen = task or task_of_target(labels)
    if chosen == "regression":
        _check_numeric(labels, target)
    else:
        _check_class_count(labels, target, len(frame))
    return chosen


def _check_filled(labels: pd.Series, target: str) -> None:
    empty = labels.index[labels.isna()].tolist()
    if empty:
        rows = ", ".join(map(str, empty[:5])) + (", ..." if len(empty) > 5 else "")
        raise ConfigError(f'target column "{target}" is empty in {len(empty)} row(s) ({rows}); drop or fill those rows')


def _check_numeric(labels: pd.Series, target: str) -> None:
    if pd.api.types.is_numeric_dtype(labels) and not pd.api.types.is_bool_dtype(labels):
        return
    parsed = pd.to_numeric(labels, errors="coerce")
    bad = labels[parsed.isna()]
    first = f"row {bad.index[0]} is {str(bad.iloc[0])!r}" if len(bad) else "it holds true/false values"
    raise ConfigError(f'target "{target}" is not numeric ({first}); regression needs numbers: fix the column or use --task classification')


def _check_class_count(labels: pd.Series, target: str, rows: int) -> None:
    classes = labels.nunique()
    limit = min(_MAX_CLASSES, max(2, rows // _MIN_ROWS_PER_CLASS))
    if classes > limit:
        numeric = pd.api.types.is_numeric_dtype(labels) and not pd.api.types.is_bool_dtype(labels)
        hint = "use --task regression for an amount or count" if numeric else "is it an id? choose another --target"
        raise ConfigError(
            f'target "{target}" has {classes:,} distinct values in {rows:,} rows, too many classes to learn '
            f"(at most {limit:,} here: {_MIN_ROWS_PER_CLASS}+ rows per class, {_MAX_CLASSES} at most); {hint}"
        )
