"""The estimate form: the salary model's inputs an applicant knows, as finite choices, and the rest fixed.

Built from the bundle's schema, so the select lists hold exactly the
categories training saw and whole numbers inside the trained range. Inputs
that belong to the company (its size, the weekly hours of the job) and what
an applicant is not asked (a rating they do not have yet, their age, taken
from experience) are fixed and shown. Every field being a choice makes the
form's whole domain finite: :meth:`Form.rows` lists it for the offline mode.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

from mldeploy.errors import ConfigError, Issue, SchemaError

__all__ = ["Choice", "Fixed", "Form", "FormField", "build_form"]

# What the salary example's applicant is asked, in page order, and how each field reads.
_ASKED = ("job_family", "level", "city", "education", "years_experience", "certifications", "remote")
_LABELS = {
    "job_family": "Job family", "level": "Level", "city": "City", "education": "Education",
    "years_experience": "Years of experience", "certifications": "Certifications", "remote": "Remote work",
    "company_size": "Company size (people)", "weekly_hours": "Weekly hours", "performance_rating": "Performance rating",
    "age": "Age",
}
_WORDS = {"hr": "HR", "phd": "PhD", "remote_us": "Remote (US)", "us": "US"}
# The company's side, the same for every applicant: shown on the page, never asked.
_FIXED = (
    ("company_size", 1200, "1,200 people"),
    ("weekly_hours", 40, "40 hours"),
    ("performance_rating", None, "none yet (a new hire has no rating)"),
)
# Age is not asked (nobody should be paid by it); it follows experience as in the training data.
_AGE_FIELD, _AGE_FROM, _AGE_OFFSET = "age", "years_experience", 22
_MAX_BODY_FIELDS = 64


@dataclass(frozen=True)
class Choice:
    """One option of a select list: the value sent and the words shown."""

    value: object
    label: str


@dataclass(frozen=True)
class FormField:
    """One asked field: its kind (category, whole, boolean) and every value it can take."""

    name: str
    label: str
    kind: str
    choices: tuple[Choice, ...]

    def expected(self) -> str:
        """Describe a valid value in the words the schema's errors use."""
        if self.kind == "whole":
            return f"a whole number in [{self.choices[0].value}, {self.choices[-1].value}]"
        if self.kind == "boolean":
            return "true or false"
        shown = ", ".join(str(c.value) for c in self.choices[:8]) + (", ..." if len(self.choices) > 8 else "")
        return f"one of [{shown}]"

    def parse(self, raw) -> object:
        """Return the field's value for ``raw`` (what a page or client sent), or raise ValueError."""
        if self.kind == "boolean":
            value = _boolean(raw)
        elif self.kind == "whole":
            value = _whole(raw)
        else:
            value = raw if isinstance(raw, str) else _refuse()
        if value not in {c.value for c in self.choices} or isinstance(value, bool) != (self.kind == "boolean"):
            raise ValueError(value)
        return value


@dataclass(frozen=True)
class Fixed:
    """An input the site sets itself, shown beside the form."""

    name: str
    label: str
    value: object
    shown: str


@dataclass(frozen=True)
class Form:
    """The asked fields, the fixed inputs, and how a complete model row is made from an answer."""

    fields: tuple[FormField, ...]
    fixed: tuple[Fixed, ...]

    def check(self, body) -> dict:
        """Return the asked values of a submitted form; raise SchemaError naming every bad field."""
        if not isinstance(body, Mapping):
            raise SchemaError([Issue(None, "(body)", "a JSON object with the form's fields", type(body).__name__)],
                              hint="send the form's fields as one JSON object; GET /api/form lists them")
        issues, values = [], {}
        known = {f.name for f in self.fields}
        for name in list(body)[:_MAX_BODY_FIELDS]:
            if name not in known:
                issues.append(Issue(None, str(name), "one of the form's fields (" + ", ".join(sorted(known)) + ")",
                                    "a field the form does not have"))
        for f in self.fields:
            if body.get(f.name) in (None, ""):
                issues.append(Issue(None, f.name, f.expected(), "nothing"))
                continue
            try:
                values[f.name] = f.parse(body[f.name])
            except ValueError:
                issues.append(Issue(None, f.name, f.expected(), _shown(body[f.name])))
        if issues:
            raise SchemaError(issues, hint="choose a value from each list")
        return values

    def row(self, values: Mapping) -> dict:
        """Return the whole model row for checked form values: asked, fixed and derived inputs."""
        row = {f.name: f.value for f in self.fixed}
        row.update(values)
        row[_AGE_FIELD] = values[_AGE_FROM] + _AGE_OFFSET
        return row

    def key(self, values: Mapping) -> str:
        """Return the offline table's key for checked form values (or a whole row): the asked values in order."""
        return "|".join(_key_part(values[f.name]) for f in self.fields)

    @property
    def size(self) -> int:
        """How many different answers the form can send."""
        return math.prod(len(f.choices) for f in self.fields)

    def table(self, key_column: str):
        """Return every answer the form can send as whole model rows, keyed like :meth:`key`, built column by column."""
        import pandas as pd

        names = [f.name for f in self.fields]
        table = pd.MultiIndex.from_product([[c.value for c in f.choices] for f in self.fields], names=names).to_frame(index=False)
        parts = [table[name].map(_key_part) if table[name].dtype == bool else table[name].astype(str) for name in names]
        key = parts[0]
        for part in parts[1:]:
            key = key + "|" + part
        for item in self.fixed:
            table[item.name] = float("nan") if item.value is None else item.value
        table[_AGE_FIELD] = table[_AGE_FROM] + _AGE_OFFSET
        table.insert(0, key_column, key)
        return table

    def combinations(self) -> Iterator[dict]:
        """Yield every answer the form can send, as checked values."""
        names = [f.name for f in self.fields]
        for values in itertools.product(*[[c.value for c in f.choices] for f in self.fields]):
            yield dict(zip(names, values))

    def to_dict(self) -> dict:
        """Return the form as ``GET /api/form`` gives it (the page builds its select lists from it)."""
        return {
            "fields": [{"name": f.name, "label": f.label, "kind": f.kind,
                        "choices": [{"value": c.value, "label": c.label} for c in f.choices]} for f in self.fields],
            "fixed": [{"name": f.name, "label": f.label, "value": f.value, "shown": f.shown} for f in self.fixed],
            "derived": [{"name": _AGE_FIELD, "from": _AGE_FROM, "offset": _AGE_OFFSET,
                         "shown": f"{_LABELS[_AGE_FIELD]}: not asked, taken as {_AGE_OFFSET} + years of experience"}],
        }


def build_form(schema, max_years: int = 40, max_certifications: int = 5) -> Form:
    """Return the form for a salary model's schema; whole-number lists stop at the trained maximum or the cap."""
    fields_by_name = schema.by_name
    needed = [*_ASKED, *(name for name, _, _ in _FIXED), _AGE_FIELD]
    missing = [name for name in needed if name not in fields_by_name]
    if missing:
        raise ConfigError(f"the model has no field {', '.join(missing)}; the careers site needs the salary example's "
                          "fields (train it with `mldeploy demo` or the salary example)")
    caps = {"years_experience": max_years, "certifications": max_certifications}
    asked = tuple(_asked_field(fields_by_name[name], caps.get(name)) for name in _ASKED)
    fixed = tuple(Fixed(name, _LABELS[name], value, shown) for name, value, shown in _FIXED)
    return Form(asked, fixed)


def _asked_field(field, cap: int | None) -> FormField:
    label = _LABELS[field.name]
    if field.type == "category":
        if not field.categories:
            raise ConfigError(f'the model\'s field "{field.name}" lists no categories; retrain it with the salary example')
        return FormField(field.name, label, "category", tuple(Choice(c, _words(c)) for c in field.categories))
    if field.type == "boolean":
        return FormField(field.name, label, "boolean", (Choice(False, "No"), Choice(True, "Yes")))
    low = max(0, math.ceil(field.minimum if field.minimum is not None else 0))
    high = math.floor(field.maximum) if field.maximum is not None else cap
    high = min(high, cap) if cap is not None else high
    if high is None or high < low:
        raise ConfigError(f'the model\'s field "{field.name}" has no whole numbers to offer ({field.expected()})')
    return FormField(field.name, label, "whole", tuple(Choice(n, str(n)) for n in range(low, high + 1)))


def _words(value: str) -> str:
    if value in _WORDS:
        return _WORDS[value]
    return " ".join(_WORDS.get(word, word) for word in value.split("_")).capitalize()


def _boolean(raw) -> bool:
    if isinstance(raw, bool):
        return raw
    if isinstance(raw, str) and raw.strip().lower() in ("true", "yes", "false", "no"):
        return raw.strip().lower() in ("true", "yes")
    return _refuse()


def _whole(raw) -> int:
    if isinstance(raw, bool):
        return _refuse()
    if isinstance(raw, int):
        return raw
    if isinstance(raw, float) and raw.is_integer():
        return int(raw)
    if isinstance(raw, str) and raw.strip().lstrip("-").isdigit():
        return int(raw.strip())
    return _refuse()


def _refuse():
    raise ValueError("not a value of this field")


def _key_part(value) -> str:
    return ("true" if value else "false") if isinstance(value, bool) else str(value)


def _shown(value) -> str:
    text = f'"{value}"' if isinstance(value, str) else repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
