"""Pipeline factories for --pipeline: ones that fail the ways users' factories do."""


def raises():
    raise RuntimeError("the feature store is down")


not_callable = 42


def returns_text():
    return "a pipeline"
