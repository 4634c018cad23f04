"""The canary's guard on its own: the share of server errors and the p99 of its last answers, against the limits."""

from __future__ import annotations

from mldeploy.api.canary import CanaryGuard


def test_the_error_rate_guard_stops_once_enough_answers_fail_and_not_before():
    guard = CanaryGuard(max_error_rate=0.1, max_p99_ms=None, min_requests=50)
    answers = [guard.observe(i % 5 == 0, 0.001) for i in range(49)]  # a fifth fail, but 49 answers are too few
    assert answers == [None] * 49
    reason = guard.observe(False, 0.001)
    assert reason == "error rate 20.0% over 10.0% in the last 50 answers"


def test_failures_under_the_limit_keep_the_canary_running():
    guard = CanaryGuard(max_error_rate=0.1, max_p99_ms=None, min_requests=50)
    assert all(guard.observe(i % 20 == 0, 0.001) is None for i in range(500))  # 5 % of answers fail


def test_the_last_answers_count_so_an_early_bad_patch_ages_out():
    guard = CanaryGuard(max_error_rate=0.5, max_p99_ms=None, min_requests=100)
    assert all(guard.observe(i < 40, 0.001) is None for i in range(100))  # 40 % failed: under the limit
    assert all(guard.observe(False, 0.001) is None for i in range(100))  # the 40 failures age out of the window
    assert all(guard.observe(True, 0.001) is None for i in range(50))  # 50 % exactly: not over
    assert guard.observe(True, 0.001).startswith("error rate 51.0%")


def test_the_latency_guard_names_the_p99_and_forget_starts_afresh():
    guard = CanaryGuard(max_error_rate=None, max_p99_ms=10, min_requests=10)
    assert all(guard.observe(False, 0.001) is None for _ in range(9))
    guard.forget()
    assert all(guard.observe(False, 0.5) is None for _ in range(9))  # 9 answers since the share changed
    assert guard.observe(False, 0.5) == "p99 500.0 ms over 10 ms in the last 10 answers"
