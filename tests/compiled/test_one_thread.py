"""One native thread for a stretch of small predictions, with the process's thread pools found once."""

import sys
import types

import sklearn.ensemble  # noqa: F401  (loads scikit-learn's OpenMP runtime)
from threadpoolctl import threadpool_info

from mldeploy.compiled import one_thread


def _threads() -> list[int]:
    return [pool["num_threads"] for pool in threadpool_info()]


def test_every_native_pool_runs_one_thread_inside_and_what_it_had_after():
    before = _threads()
    with one_thread.one_native_thread():
        assert _threads() and set(_threads()) == {1}
        with one_thread.one_native_thread():  # nested, as verification inside bundle creation
            assert set(_threads()) == {1}
        assert set(_threads()) == {1}
    assert _threads() == before


def test_the_pools_are_found_once_and_again_after_an_import(monkeypatch):
    first = one_thread._current_controller()
    assert one_thread._current_controller() is first
    monkeypatch.setitem(sys.modules, "mldeploy_test_new_module", types.ModuleType("mldeploy_test_new_module"))
    assert one_thread._current_controller() is not first
