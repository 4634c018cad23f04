"""The canary's traffic record beside the aliases, on SQLite and PostgreSQL."""

import pytest

from mldeploy.errors import ConfigError


def test_a_share_is_set_read_and_kept_in_the_history(any_registry):
    assert any_registry.traffic("salary") is None
    any_registry.set_traffic("salary", "salary:staging", 10)
    stopped = any_registry.set_traffic("salary", "salary:staging", 0, reason="p99 120 ms over 50 ms")
    record = any_registry.traffic("salary")
    assert (record.challenger, record.share, record.reason) == ("salary:staging", 0.0, "p99 120 ms over 50 ms")
    assert record.updated_at == stopped.updated_at
    assert [(h.share, h.reason) for h in any_registry.traffic_history("salary")] == [(10.0, None), (0.0, "p99 120 ms over 50 ms")]


@pytest.mark.parametrize("share", [-1, 100.5, True, "10"])
def test_a_share_outside_0_to_100_is_refused(any_registry, share):
    with pytest.raises(ConfigError, match="a canary share is a percentage from 0 to 100"):
        any_registry.set_traffic("salary", "salary:staging", share)


def test_a_canary_of_another_model_is_refused(any_registry):
    with pytest.raises(ConfigError, match="not a version of salary"):
        any_registry.set_traffic("salary", "other:staging", 5)
