"""The test tree keeps to the rules pytest's default import mode needs: one basename per test module."""

from collections import Counter
from pathlib import Path

TESTS = Path(__file__).parent


def test_every_test_module_has_a_basename_of_its_own():
    counts = Counter(path.name for path in TESTS.rglob("*.py") if path.name != "conftest.py")
    assert {name: n for name, n in counts.items() if n > 1} == {}, "rename one of each pair (e.g. test_ops_config.py)"
