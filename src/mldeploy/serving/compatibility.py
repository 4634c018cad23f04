"""The rule a new version's schema must keep to replace a version that is serving.

A live swap must not break the callers of the version it replaces. So a new
version may not:

- change the task (regression vs classification) or a classifier's classes;
- drop a field, or change its type (number, integer, boolean, category, string);
- refuse empty values in a field that accepted them;
- require a field the old version did not have (a new field must accept empty).

Ranges and categories may change: they are learnt from each training set and
every row is checked against the version that serves it. A swap that breaks
the rule is refused unless the caller allows incompatible versions.
"""

from __future__ import annotations

from mldeploy.bundle.schema import Schema

__all__ = ["incompatibilities"]


def incompatibilities(serving: Schema, candidate: Schema) -> list[str]:
    """Return every way ``candidate`` would break callers of ``serving`` (empty when it is compatible)."""
    problems = []
    if serving.output.task != candidate.output.task:
        problems.append(f"the task changes from {serving.output.task} to {candidate.output.task}")
    elif serving.output.classes is not None and list(serving.output.classes) != list(candidate.output.classes or []):
        problems.append(f"the classes change from {list(serving.output.classes)} to {list(candidate.output.classes or [])}")
    for old in serving.fields:
        new = candidate.by_name.get(old.name)
        if new is None:
            problems.append(f'field "{old.name}" is removed')
        elif new.type != old.type:
            problems.append(f'field "{old.name}" changes type from {old.type} to {new.type}')
        elif old.nullable and not new.nullable:
            problems.append(f'field "{old.name}" may no longer be empty')
    for new in candidate.fields:
        if new.name not in serving.by_name and not new.nullable:
            problems.append(f'new field "{new.name}" is required (callers of the serving version do not send it)')
    return problems
