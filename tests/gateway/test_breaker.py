"""The circuit breaker on its own: thresholds, the cool-down, one probe at a time, and the
state changes it reports."""

from __future__ import annotations

from gateway.home.breaker import BreakerState, CircuitBreaker
from tests.gateway.conftest import FakeClock


def breaker(clock: FakeClock, changes: list[BreakerState]) -> CircuitBreaker:
    return CircuitBreaker(
        "dep",
        failure_threshold=3,
        reset_timeout_s=10.0,
        clock=clock,
        on_state_change=lambda _name, state: changes.append(state),
    )


def test_opens_after_consecutive_failures_only() -> None:
    clock, changes = FakeClock(), []
    b = breaker(clock, changes)
    for _ in range(2):
        assert b.allow()
        b.record_failure()
    assert b.allow()
    b.record_success()  # a success in between: the count starts again
    for _ in range(2):
        assert b.allow()
        b.record_failure()
    assert b.state is BreakerState.CLOSED and b.consecutive_failures == 2
    assert b.allow()
    b.record_failure()
    assert b.state is BreakerState.OPEN and not b.allow()
    assert changes == [BreakerState.CLOSED, BreakerState.OPEN]


def test_half_open_lets_one_probe_through_then_closes_or_reopens() -> None:
    clock, changes = FakeClock(), []
    b = breaker(clock, changes)
    for _ in range(3):
        b.allow()
        b.record_failure()
    clock.advance(9.999)
    assert not b.allow() and b.state is BreakerState.OPEN
    clock.advance(0.001)
    assert b.allow() and b.state is BreakerState.HALF_OPEN
    assert not b.allow()  # the probe is in flight
    b.record_failure()  # the probe failed: open again, for a whole cool-down
    assert b.state is BreakerState.OPEN and not b.allow()
    clock.advance(10.0)
    assert b.allow()
    b.record_abandoned()  # the caller gave up on the probe: the next call probes
    assert b.state is BreakerState.HALF_OPEN and b.allow()
    b.record_success()
    assert b.state is BreakerState.CLOSED and b.allow() and b.allow()
    assert changes == [
        BreakerState.CLOSED,
        BreakerState.OPEN,
        BreakerState.HALF_OPEN,
        BreakerState.OPEN,
        BreakerState.HALF_OPEN,
        BreakerState.CLOSED,
    ]


def test_late_answers_do_not_move_an_open_circuit() -> None:
    clock, changes = FakeClock(), []
    b = breaker(clock, changes)
    for _ in range(5):
        assert b.allow()  # five calls in flight while closed
    for _ in range(3):
        b.record_failure()
    assert b.state is BreakerState.OPEN
    clock.advance(5.0)
    b.record_failure()  # stragglers from before it opened
    b.record_success()
    assert b.state is BreakerState.OPEN
    clock.advance(5.0)  # the cool-down counts from the opening, not from the stragglers
    assert b.allow() and b.state is BreakerState.HALF_OPEN
