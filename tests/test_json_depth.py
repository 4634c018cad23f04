"""The nesting of a JSON text, measured without recursion."""

import pytest

from mldeploy._json_depth import nests_deeper_than


@pytest.mark.parametrize("text, deeper", [
    (b"[" * 100_000, True),
    (b'{"a":' * 3 + b"1" + b"}" * 3, False),
    (b"[[[]]]", False),
    (b"[[[[]]]]", True),
    (b'["[[[[[[", "{{{{{{"]', False),  # brackets in strings are text
    (b'["\\"[[[[[[["]', False),  # an escaped quote does not end the string
    (b"[[]][[]][[]][[]]", False),  # many brackets, never deep
])
def test_depth_is_counted_outside_strings_only(text, deeper):
    assert nests_deeper_than(text, 3) is deeper
