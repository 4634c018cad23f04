"""Describe each feature a model sees as a base value read from one column plus a chain of steps.

A *base* is what the row encoder computes from one input column: a number
(imputed, with its function's domain checked), a category code, an ordinal
code or a missing-value flag. A *chain* is the per-feature arithmetic that
scikit-learn applies afterwards (scaling, a monotone function, a float32 cast).
Trees never need the chain at prediction time: their thresholds are folded
back through it (see ``fold``). Linear models evaluate it with numpy.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = [
    "CodeBase", "Feature", "MissingBase", "NumBase", "OneHotBase", "OrdinalBase", "TextExpr",
    "Unsupported", "apply_chain", "base_to_json", "base_from_json", "FUNCTIONS",
]

# Monotone non-decreasing numpy functions a FunctionTransformer may apply, with
# the lowest input inside their domain (None: every number).
FUNCTIONS: dict[str, tuple[np.ufunc, float | None]] = {
    "log1p": (np.log1p, -1.0),
    "log": (np.log, 0.0),
    "sqrt": (np.sqrt, 0.0),
    "exp": (np.exp, None),
    "expm1": (np.expm1, None),
    "cbrt": (np.cbrt, None),
    "arcsinh": (np.arcsinh, None),
}


class Unsupported(Exception):
    """A step the compiled form cannot reproduce exactly; the message says why."""


@dataclass(frozen=True)
class NumBase:
    """A number column: missing -> ``fill`` (if any), below ``lo`` -> NaN (outside the function's domain)."""

    column: str
    fill: float | None = None
    lo: float | None = None


@dataclass(frozen=True)
class MissingBase:
    """1.0 where a column is missing; text columns count only NaN (scikit-learn's imputers ignore None there)."""

    column: str
    numeric: bool


@dataclass(frozen=True)
class CodeBase:
    """The index of a text column's value among ``categories``; -1 when unseen (an error if ``strict``)."""

    column: str
    fill: str | None
    categories: tuple
    strict: bool


@dataclass(frozen=True)
class OneHotBase:
    """1.0 where a text column's value is ``categories[category]``, else 0.0 (unseen: an error if ``strict``).

    Trees read these instead of the :class:`CodeBase` index so every split is a
    ``<=`` on one column, the mode onnxruntime walks fastest.
    """

    column: str
    fill: str | None
    categories: tuple
    strict: bool
    category: int

    @classmethod
    def of(cls, feature: Feature) -> OneHotBase:
        """Return the indicator of a one-hot feature (a CodeBase with a category)."""
        base = feature.base
        return cls(base.column, base.fill, base.categories, base.strict, int(feature.category))


@dataclass(frozen=True)
class OrdinalBase:
    """OrdinalEncoder's output: ``values[index]``, or ``unknown`` for unseen values (an error if None)."""

    column: str
    fill: str | None
    categories: tuple
    values: tuple
    unknown: float | None


@dataclass(frozen=True)
class TextExpr:
    """A text column on its way to an encoder, possibly imputed; never a model input."""

    column: str
    fill: str | None = None


@dataclass(frozen=True)
class Feature:
    """One model input: ``chain`` applied to a base value (to ``base == category`` for one-hot)."""

    base: NumBase | MissingBase | CodeBase | OneHotBase | OrdinalBase
    chain: tuple = ()
    category: int | None = None

    def with_op(self, *op) -> Feature:
        """Return this feature with one more step at the end of its chain."""
        return Feature(self.base, self.chain + (tuple(op),), self.category)


def apply_chain(chain: tuple, values: np.ndarray) -> np.ndarray:
    """Apply a chain to a float64 array with the same numpy operations scikit-learn uses."""
    out = np.array(values, dtype=np.float64)
    for op in chain:
        name = op[0]
        if name == "fill":
            out = np.where(np.isnan(out), op[1], out)
        elif name == "func":
            out = FUNCTIONS[op[1]][0](out)
        elif name == "sub":
            out = out - op[1]
        elif name == "div":
            out = out / op[1]
        elif name == "mul":
            out = out * op[1]
        elif name == "add":
            out = out + op[1]
        elif name == "f32":
            out = out.astype(np.float32).astype(np.float64)
        else:
            raise ValueError(f"unknown chain step {name!r}")
    return out


def base_to_json(base) -> dict:
    """Describe a base as plain JSON data."""
    kind = type(base).__name__
    fields = {name: getattr(base, name) for name in base.__dataclass_fields__}
    for name in ("categories", "values"):
        if name in fields:
            fields[name] = list(fields[name])
    return {"kind": kind, **fields}


def base_from_json(data: dict):
    """Rebuild a base from :func:`base_to_json` output, accepting only known kinds."""
    kinds = {cls.__name__: cls for cls in (NumBase, MissingBase, CodeBase, OneHotBase, OrdinalBase)}
    fields = dict(data)
    cls = kinds.get(fields.pop("kind", None))
    if cls is None:
        raise ValueError(f"unknown encoder base kind {data.get('kind')!r}")
    for name in ("categories", "values"):
        if name in fields:
            fields[name] = tuple(fields[name])
    return cls(**fields)
