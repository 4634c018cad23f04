"""A serving process collects its young generation less often; a higher threshold someone set stays."""

import gc

import pytest

from mldeploy.serving.frozen_heap import YOUNG_THRESHOLD, collect_young_less_often


@pytest.fixture
def thresholds_restored():
    before = gc.get_threshold()
    yield
    gc.set_threshold(*before)


def test_the_young_threshold_rises_and_the_older_ones_stay(thresholds_restored):
    gc.set_threshold(700, 11, 12)
    collect_young_less_often()
    assert gc.get_threshold() == (YOUNG_THRESHOLD, 11, 12)


def test_a_higher_threshold_is_kept(thresholds_restored):
    gc.set_threshold(YOUNG_THRESHOLD * 2, 10, 10)
    collect_young_less_often()
    assert gc.get_threshold() == (YOUNG_THRESHOLD * 2, 10, 10)


def test_automatic_collection_switched_off_stays_off(thresholds_restored):
    gc.set_threshold(0, 10, 10)
    collect_young_less_often()
    assert gc.get_threshold() == (0, 10, 10)
