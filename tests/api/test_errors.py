"""The API's error table: every core error class has a status, bad input is never a 5xx."""

import pytest

from mldeploy import errors as core
from mldeploy.api import errors

pytestmark = pytest.mark.timeout(30)


def test_every_core_error_class_has_its_own_entry():
    classes = [getattr(core, name) for name in core.__all__]
    missing = [cls.__name__ for cls in classes
               if isinstance(cls, type) and issubclass(cls, BaseException) and not issubclass(cls, Warning)
               and cls not in errors.STATUS]
    assert missing == []


@pytest.mark.parametrize(("error", "status"), [
    (core.SchemaError([core.Issue(0, "age", "a number", '"x"')]), 422),
    (core.NotFoundError("no salary@9"), 404),
    (errors.MalformedRequestError("bad tensor"), 400),
    (errors.UnsupportedMediaTypeError("text/plain"), 415),
    (errors.PayloadTooLargeError("too big"), 413),
    (errors.UnauthorizedError("token"), 401),
    (core.NotReadyError("loading"), 503),
    (core.PredictionError("inside"), 500),
])
def test_status_comes_from_the_nearest_class(error, status):
    assert errors.status_for(error) == status


def test_a_subclass_without_an_entry_takes_its_parents_status():
    class Unheard(core.SchemaError):
        pass

    assert errors.status_for(Unheard([core.Issue(None, "x", "a", "b")])) == 422
    assert errors.status_for(KeyError("not ours")) == 500


def test_the_body_of_a_schema_error_lists_every_issue():
    issues = [core.Issue(0, "age", "a whole number in [0, 93]", "12.5"), core.Issue(3, "remote", "true or false", '"x"')]
    body = errors.error_body(core.SchemaError(issues))
    assert body["type"] == "SchemaError"
    assert body["issues"] == [issue.to_dict() for issue in issues]
    assert body["error"].startswith('2 bad field(s) in 2 row(s): row 0, field "age"')


def test_every_entry_has_a_grpc_code_and_a_callers_mistake_is_never_unknown_or_internal():
    import grpc

    for cls, answer in errors.STATUS.items():
        assert answer.grpc in grpc.StatusCode.__members__, cls
        if answer.http < 500:
            assert answer.grpc not in ("UNKNOWN", "INTERNAL"), cls
    assert errors.grpc_code_for(core.SchemaError([core.Issue(0, "age", "a", "b")])) == "INVALID_ARGUMENT"
    assert errors.grpc_code_for(errors.PayloadTooLargeError("big")) == "RESOURCE_EXHAUSTED"
    assert errors.grpc_code_for(KeyError("not ours")) == "INTERNAL"
