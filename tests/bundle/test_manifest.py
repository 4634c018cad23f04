"""The manifest refuses every field of the wrong type or shape, naming the field."""

import json

import pytest

from mldeploy.bundle.manifest import Manifest
from mldeploy.bundle.ref import BundleRef
from mldeploy.errors import BundleError, ConfigError

pytestmark = pytest.mark.timeout(30)

GOOD = json.loads(Manifest(name="salary", task="regression", files={"schema.json": "a" * 64}).to_bytes())


def parse(**changes) -> Manifest:
    return Manifest.from_bytes(json.dumps(GOOD | changes).encode())


def test_a_good_manifest_reads_back():
    assert parse().name == "salary" and parse(version=3).version == 3


@pytest.mark.parametrize("field, value", [
    ("version", True), ("version", "3"), ("compiled", None), ("libraries", None), ("libraries", {"numpy": 2}),
    ("metrics", []), ("files", None), ("training_rows", False), ("format_version", True), ("name", None),
    ("created", 5), ("parent", 3), ("description", None), ("data_fingerprint", {}),
    ("compiled", {"status": "compiled", "plan": 5}), ("compiled", {"plan": [{"step": "x"}]}), ("sizes", {"schema.json": -1}),
    ("sizes", {"other.json": 5}),
])
def test_a_field_of_the_wrong_type_is_refused_by_name(field, value):
    with pytest.raises(BundleError, match=f'"{field}"'):
        parse(**{field: value})


@pytest.mark.parametrize("name", ["salary\n", "salary\r", " salary", "sal ary", "../salary", "x" * 101])
def test_names_must_match_whole(name):
    with pytest.raises(BundleError, match="bad name"):
        parse(name=name)


def test_file_names_and_digests_must_match_whole():
    with pytest.raises(BundleError, match="outside the bundle"):
        parse(files={"schema.json\n": "a" * 64})
    with pytest.raises(BundleError, match="SHA-256"):
        parse(files={"schema.json": "a" * 64 + "\n"})
    with pytest.raises(BundleError, match="outside the bundle"):
        parse(files={"./schema.json": "a" * 64})


@pytest.mark.parametrize("name", ["manifest.json", "signature.ed25519"])
def test_the_manifest_cannot_list_the_bundles_own_files(name):
    with pytest.raises(BundleError, match=f"lists {name} among the bundle's files"):
        parse(files={name: "a" * 64})


def test_a_long_bad_value_is_shown_short():
    with pytest.raises(BundleError) as caught:
        parse(name="x" * 1_000_000)
    assert len(str(caught.value)) < 300


def test_references_match_whole_and_are_shown_short():
    for text in ("salary@3\nx", "salary:prod\n\n1", "sal ary"):
        with pytest.raises(ConfigError):
            BundleRef.parse(text)
    with pytest.raises(ConfigError) as caught:
        BundleRef.parse("x" * 1_000_000 + "!")
    assert len(str(caught.value)) < 300
