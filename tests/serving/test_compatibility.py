"""The schema rule a new version keeps to replace a serving one."""

import pytest

from mldeploy.bundle.schema import Field, Output, Schema
from mldeploy.serving.compatibility import incompatibilities

pytestmark = pytest.mark.timeout(30)


def _schema(*fields, task="regression", classes=None):
    return Schema(tuple(fields), Output(task, classes))


BASE = _schema(Field("age", "integer", nullable=False, minimum=0, maximum=90), Field("city", "category", categories=("a", "b")))


def test_learnt_ranges_and_categories_may_change():
    wider = _schema(Field("age", "integer", nullable=False, minimum=5, maximum=60), Field("city", "category", categories=("c",)))
    assert incompatibilities(BASE, wider) == []


def test_a_new_field_that_may_be_empty_is_compatible_and_a_required_one_is_not():
    assert incompatibilities(BASE, _schema(*BASE.fields, Field("extra", "number"))) == []
    assert incompatibilities(BASE, _schema(*BASE.fields, Field("extra", "number", nullable=False))) == [
        'new field "extra" is required (callers of the serving version do not send it)']


def test_every_breaking_change_is_named():
    broken = _schema(Field("age", "number", nullable=False), task="classification", classes=("x", "y"))
    assert incompatibilities(BASE, broken) == [
        "the task changes from regression to classification",
        'field "age" changes type from integer to number',
        'field "city" is removed',
    ]
    stricter = _schema(BASE.fields[0], Field("city", "category", nullable=False))
    assert incompatibilities(BASE, stricter) == ['field "city" may no longer be empty']


def test_a_classifier_keeps_its_classes():
    old = _schema(*BASE.fields, task="classification", classes=("high", "low"))
    new = _schema(*BASE.fields, task="classification", classes=("high", "low", "mid"))
    assert incompatibilities(old, new) == ["the classes change from ['high', 'low'] to ['high', 'low', 'mid']"]
