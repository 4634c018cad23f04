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
    (b'["\\\\", "[[[[[["]', False),  # an escaped backslash, then the end of the string
    (b"[\"" + b"[" * 2_000_000 + b"\"]", False),  # blocks of the scan carry the string across
])
def test_depth_is_counted_outside_strings_only(text, deeper):
    assert nests_deeper_than(text, 3) is deeper


def test_depth_carries_across_the_scan_blocks():
    assert nests_deeper_than(b"[]" * 600_000 + b"[" * 4 + b"]" * 4, 3)  # the deep part lies past the first block
    assert not nests_deeper_than(b"[" * 2 + b"[]" * 600_000 + b"]" * 2, 3)
