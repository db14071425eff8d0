"""How long a sink keeps trying a partner's endpoint that is down (connectors.contract)."""

from __future__ import annotations

import random

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from connectors.contract import RetryPolicy, sink_consumer_config
from liaison.settings import load_settings


def _attempts(policy: RetryPolicy, attempt_s: float, seed: int) -> tuple[int, float]:
    """Attempts made against an endpoint that never answers well, each taking ``attempt_s``,
    and the time from the first until the policy gave up."""
    rng, elapsed, attempt = random.Random(seed), attempt_s, 1  # noqa: S311 - jitter
    while (wait := policy.next_delay(attempt, elapsed, rng)) is not None:
        assert wait >= 0
        elapsed += wait + attempt_s
        attempt += 1
    return attempt, elapsed


@given(
    budget=st.floats(1.0, 3600.0),
    attempt_s=st.floats(0.0, 12.0),
    seed=st.integers(0, 2**32),
)
def test_a_sink_gives_up_only_once_its_time_budget_is_spent(budget, attempt_s, seed):
    # Six attempts (about 15 s of backoff) dead-lettered deliveries during a partner's 50 s
    # outage: the budget is time, not a count of attempts.
    policy = RetryPolicy(give_up_after_s=budget)
    attempts, elapsed = _attempts(policy, attempt_s, seed)
    assert elapsed >= budget  # no giving up early
    assert elapsed <= budget + attempt_s + 1e-6  # nor waiting past it (the last try ends it)
    assert attempts >= 2 or attempt_s >= budget


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(budget=st.floats(1.0, 3600.0))
def test_a_sink_waiting_out_an_endpoint_stays_in_its_group(tmp_path, budget):
    # A consumer that does not poll for max.poll.interval.ms leaves its group: a sink must
    # not be taken for gone while it waits out an endpoint for its whole budget.
    conf = load_settings({}, state_dir=tmp_path, person_key="unit tests person key")
    policy = RetryPolicy(give_up_after_s=budget)
    config = sink_consumer_config(conf, "g", "127.0.0.1:9", policy)
    assert config["max.poll.interval.ms"] > (budget + 30) * 1000
    assert config["enable.auto.offset.store"] is False


@given(max_attempts=st.integers(1, 50), seed=st.integers(0, 2**32))
def test_a_count_of_attempts_still_bounds_it_when_given(max_attempts, seed):
    policy = RetryPolicy(max_attempts=max_attempts, give_up_after_s=10**9)
    assert _attempts(policy, 0.0, seed)[0] == max_attempts
