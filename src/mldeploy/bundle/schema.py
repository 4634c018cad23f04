"""The input and output schema of a pipeline: what a valid row looks like.

A field has a type, whether it may be empty, and what training saw: the
categories of a text field, the range of a number. Accepted coercions:

- ``integer``: whole numbers, floats with no fraction (``5.0``) and numeric
  text (``"5"``); ``number``: any finite number or numeric text.
- ``boolean``: ``true``/``false``, ``1``/``0`` and the words true, false,
  yes, no, 1, 0 in any case.
- ``category``: text only; a value training never saw is accepted when the
  pipeline handles unseen categories (``unseen="accept"``, found by probing
  the pipeline when the bundle is made) and refused otherwise.
- Numbers must lie in ``[minimum, maximum]``: by default the training range
  widened by half its span on each side (never below 0 for a field that was
  never negative), so drift passes and nonsense does not. Bounds the pipeline
  refuses (the log of 0) are narrowed when the bundle is made, by probing.
- ``bytes`` are neither numbers nor text (they have no declared encoding):
  decode them first. A ``Decimal`` is a number; ``Decimal("NaN")`` is an empty
  number (scikit-learn reads it as NaN) but, like any Decimal, not text.

Empty values. scikit-learn treats None and NaN in a text column differently
(an imputer fills NaN and keeps None as a category of its own), so how an
empty value reaches the pipeline is a rule, chosen by the caller:

- ``missing="as-given"`` (the default for Python callers): None stays None and
  NaN stays NaN, so a DataFrame or dicts get exactly ``pipeline.predict``'s
  answer. Other empty markers (``pd.NA``, ``NaT``) become the marker training had.
- ``missing="as-trained"`` (inputs that cannot tell None from NaN: a JSON
  ``null``, a CSV's empty cell, an Arrow null): every empty value becomes the
  marker training had in that column (``text_null``).

``nullable`` says whether the marker training had is accepted; ``nulls`` lists
the markers (``nan``, ``none``) the pipeline accepts as given, found by probing.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd

from mldeploy.errors import BundleError, shorten

__all__ = ["Field", "Output", "Schema", "FIELD_TYPES"]

FIELD_TYPES = ("number", "integer", "boolean", "category", "string")
_MAX_CATEGORIES = 1000
_RANGE_MARGIN = 0.5


@dataclass(frozen=True)
class Field:
    """One input field of a pipeline."""

    name: str
    type: str
    """One of number, integer, boolean, category, string."""
    nullable: bool = True
    """Whether an empty value (null, NaN, missing) is allowed."""
    categories: tuple[str, ...] | None = None
    """The categories seen in training, for a category field."""
    unseen: str = "reject"
    """``accept`` or ``reject`` categories training never saw."""
    minimum: float | None = None
    maximum: float | None = None
    dtype: str = "object"
    """The pandas dtype the pipeline was trained on; valid input is cast to it."""
    text_null: str = "nan"
    """How an empty text value reaches the pipeline, as in training: ``nan`` or ``none``.

    scikit-learn's imputers treat NaN as missing but None as a category of its
    own, so the pipeline only behaves as trained if it gets what training had."""
    nulls: tuple[str, ...] | None = None
    """The empty markers (``nan``, ``none``) the pipeline accepts as given, found by probing.

    None (a schema made before both markers were probed): every empty text value is
    given as training had it, whatever the ``missing`` rule."""

    def accepts_empty(self, marker: str) -> bool:
        """Say whether an empty value given as ``marker`` (``nan`` or ``none``) may reach the pipeline."""
        if self.type not in ("category", "string"):
            return self.nullable  # a number column holds NaN whatever was given
        return self.nullable if self.nulls is None else marker in self.nulls

    def expected(self) -> str:
        """Describe a valid value in the words every error message uses."""
        if self.type in ("number", "integer"):
            kind = "a whole number" if self.type == "integer" else "a number"
            if self.minimum is not None and self.maximum is not None:
                return f"{kind} in [{_num(self.minimum)}, {_num(self.maximum)}]"
            if self.minimum is not None:
                return f"{kind} >= {_num(self.minimum)}"
            return f"{kind} <= {_num(self.maximum)}" if self.maximum is not None else kind
        if self.type == "boolean":
            return "true or false"
        if self.type == "category" and self.categories is not None:
            shown = ", ".join(self.categories[:8]) + (", ..." if len(self.categories) > 8 else "")
            return f"one of [{shown}]"
        return "text"


@dataclass(frozen=True)
class Output:
    """What the pipeline returns: a value (regression) or a label with probabilities."""

    task: str
    """``regression`` or ``classification``."""
    classes: tuple | None = None


@dataclass(frozen=True)
class Schema:
    """Input fields in the pipeline's column order, and the output."""

    fields: tuple[Field, ...]
    output: Output
    by_name: dict = field(init=False, repr=False, compare=False)

    def __post_init__(self):
        object.__setattr__(self, "by_name", {f.name: f for f in self.fields})

    @property
    def names(self) -> list[str]:
        """Field names in the pipeline's column order."""
        return [f.name for f in self.fields]

    def with_field(self, name: str, **changes: Any) -> "Schema":
        """Return a copy with one field changed, e.g. ``with_field("age", minimum=16)``."""
        if name not in self.by_name:
            raise KeyError(f'no field "{name}"; fields are: {", ".join(self.names)}')
        fields = tuple(replace(f, **changes) if f.name == name else f for f in self.fields)
        return Schema(fields, self.output)

    def to_dict(self) -> dict:
        """Return the schema as JSON-ready data (the bundle's schema.json)."""
        return {"fields": [_field_to_dict(f) for f in self.fields], "output": asdict(self.output)}

    @classmethod
    def from_dict(cls, data: dict) -> "Schema":
        """Read a schema written by :meth:`to_dict`; refuse malformed ones."""
        try:
            fields = tuple(_field_from_dict(item) for item in data["fields"])
            output = data["output"]
            classes = tuple(output["classes"]) if output.get("classes") is not None else None
            return cls(fields, Output(output["task"], classes))
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise BundleError(f"schema.json is malformed ({shorten(repr(exc), 200)}); re-create the bundle") from exc

    @classmethod
    def from_sample(cls, sample: pd.DataFrame, task: str, classes=None, ranges: dict | None = None) -> "Schema":
        """Infer field types, categories and ranges from a training sample.

        ``ranges`` overrides the range of numeric fields: ``{"age": (16, 80)}``.
        """
        ranges = ranges or {}
        fields = tuple(_field_from_sample(name, sample[name], ranges.get(name)) for name in sample.columns)
        return cls(fields, Output(task, tuple(classes) if classes is not None else None))


def _field_from_sample(name: str, column: pd.Series, given_range) -> Field:
    dtype = str(column.dtype)
    if pd.api.types.is_bool_dtype(column):
        return Field(str(name), "boolean", dtype=dtype)
    if pd.api.types.is_numeric_dtype(column):
        kind = "integer" if pd.api.types.is_integer_dtype(column) else "number"
        low, high = _numeric_range(column, kind, given_range)
        return Field(str(name), kind, minimum=low, maximum=high, dtype=dtype)
    values = column.dropna()
    if values.empty:
        raise BundleError(f'column "{name}" is empty in every training row; drop it or give it values')
    if values.map(lambda v: isinstance(v, (bool, np.bool_))).all():
        raise BundleError(f'column "{name}" holds true/false with empty values; fill them or use a float column (1.0/0.0/NaN)')
    if not values.map(lambda v: isinstance(v, str)).all():
        raise BundleError(f'column "{name}" mixes text and other values; give it one type before training')
    categories = sorted(values.unique().tolist())
    nulls = column[column.isna()]
    text_null = "none" if (nulls.map(lambda v: v is None).mean() > 0.5 if len(nulls) else False) else "nan"
    if len(categories) > _MAX_CATEGORIES:
        return Field(str(name), "string", dtype=dtype, text_null=text_null)
    return Field(str(name), "category", categories=tuple(categories), dtype=dtype, text_null=text_null)


def _numeric_range(column: pd.Series, kind: str, given) -> tuple[float | None, float | None]:
    low, high = given if given is not None else _widened_range(column)
    low = None if low is None or np.isinf(low) else float(low)
    high = None if high is None or np.isinf(high) else float(high)
    if kind == "integer" and given is None:
        limits = np.iinfo(getattr(column.dtype, "numpy_dtype", column.dtype))  # widening stops where the dtype ends
        low = float(limits.min) if low is None else max(float(np.floor(low)), float(limits.min))
        high = float(limits.max) if high is None else min(float(np.ceil(high)), float(limits.max))
    return low, high


def _widened_range(column: pd.Series) -> tuple[float, float]:
    values = column.to_numpy(dtype="float64")
    values = values[np.isfinite(values)]
    if values.size == 0:
        return (-np.inf, np.inf)
    low, high = float(values.min()), float(values.max())
    margin = max((high - low) * _RANGE_MARGIN, abs(high) * 0.1, 1.0)
    widened_low = low - margin
    if low >= 0:
        widened_low = max(0.0, widened_low)
    return (widened_low, high + margin)


def _field_to_dict(f: Field) -> dict:
    data = asdict(f)
    for listed in ("categories", "nulls"):
        if data[listed] is not None:
            data[listed] = list(data[listed])
    for bound in ("minimum", "maximum"):
        if data[bound] is not None and not np.isfinite(data[bound]):
            data[bound] = None
    return data


def _field_from_dict(item: dict) -> Field:
    """Read one field, refusing every value of the wrong type (a schema may come from a hostile archive)."""
    if item["type"] not in FIELD_TYPES:
        raise ValueError(f'field "{shorten(item.get("name"))}" has unknown type {shorten(item["type"])!r}')
    categories = _texts(item, "categories")
    nulls = _texts(item, "nulls")
    field = Field(
        name=item["name"], type=item["type"], nullable=item.get("nullable", True),
        categories=categories, unseen=item.get("unseen", "reject"),
        minimum=item.get("minimum"), maximum=item.get("maximum"), dtype=item.get("dtype", "object"),
        text_null=item.get("text_null", "nan"), nulls=nulls,
    )
    _check_field(field)
    return field


def _texts(item: dict, key: str) -> tuple[str, ...] | None:
    values = item.get(key)
    if values is None:
        return None
    if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
        raise ValueError(f'field "{shorten(item.get("name"))}": {key} must be a list of text')
    return tuple(values)


def _check_field(f: Field) -> None:
    def is_number(value) -> bool:
        return value is None or (isinstance(value, (int, float)) and not isinstance(value, bool))

    wrong = [name for name, ok in (
        ("name", isinstance(f.name, str)), ("nullable", isinstance(f.nullable, bool)),
        ("unseen", f.unseen in ("accept", "reject")), ("minimum", is_number(f.minimum)),
        ("maximum", is_number(f.maximum)), ("dtype", isinstance(f.dtype, str)),
        ("text_null", f.text_null in ("nan", "none")), ("nulls", f.nulls is None or set(f.nulls) <= {"nan", "none"}),
    ) if not ok]
    if wrong:
        raise ValueError(f'field "{shorten(f.name)}" has a malformed {", ".join(wrong)}')


def _num(value: float) -> str:
    return f"{value:g}"
