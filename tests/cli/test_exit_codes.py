"""The command line's table of exit codes and hints covers every error class."""

import inspect

import pytest

from mldeploy import errors
from mldeploy.cli.errors import EXIT_CODES, exit_code, hint_for

pytestmark = pytest.mark.timeout(30)

ERROR_CLASSES = [obj for name in errors.__all__ if inspect.isclass(obj := getattr(errors, name)) and issubclass(obj, errors.MldeployError)]


@pytest.mark.parametrize("cls", ERROR_CLASSES, ids=lambda c: c.__name__)
def test_every_error_class_has_an_exit_code(cls):
    assert cls in EXIT_CODES, f"{cls.__name__} has no exit code in mldeploy.cli.errors.EXIT_CODES"


def test_input_errors_exit_2_and_failures_of_other_systems_1():
    assert exit_code(errors.SchemaError([])) == 2
    assert exit_code(errors.BadReferenceError("x")) == 2
    assert exit_code(errors.BackendError("db down")) == 1
    assert exit_code(errors.PredictionError("boom")) == 1


def test_a_subclass_not_listed_answers_as_its_nearest_base():
    class Special(errors.NotFoundError):
        pass

    assert exit_code(Special("x")) == EXIT_CODES[errors.NotFoundError]


def test_hints_name_the_flags_the_core_does_not_know():
    untrusted = errors.UntrustedTypesError("not trusted", ["a.B", "c.D"])
    assert hint_for(untrusted) == "if you know this code, rerun with --trust a.B --trust c.D"
    assert "--force" in hint_for(errors.VersionMismatchError("old", "scikit-learn", "1.4.0", "2.0.0"))
    assert hint_for(errors.ConfigError("plain")) is None
