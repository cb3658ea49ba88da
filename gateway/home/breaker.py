"""A circuit breaker per dependency: stop calling a dependency that keeps failing, and probe it
again after a cool-down.

    CLOSED --(failure_threshold consecutive failures)--> OPEN
    OPEN --(reset_timeout_s elapsed, on the next call)--> HALF_OPEN: exactly one probe call
    HALF_OPEN --probe succeeds--> CLOSED;  --probe fails--> OPEN (cool-down starts again)

Nothing here knows about gRPC or the gateway: callers decide what counts as a failure (the
gateway counts UNAVAILABLE, DEADLINE_EXCEEDED and other server-side codes, not INVALID_ARGUMENT or
NOT_FOUND, which prove the dependency is alive). It is generic on purpose so it can move to
`services/runtime` when a second service needs one. Single event loop, no locks: every method is
synchronous and runs between awaits.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from enum import IntEnum

__all__ = ["BreakerState", "CircuitBreaker"]


class BreakerState(IntEnum):
    """Also the value of the breaker state gauge."""

    CLOSED = 0
    HALF_OPEN = 1
    OPEN = 2


class CircuitBreaker:
    """`allow()` before a call (False: do not call, the circuit is open), then exactly one of
    `record_success()`, `record_failure()` or `record_abandoned()` for every allowed call."""

    def __init__(
        self,
        name: str,
        *,
        failure_threshold: int = 5,
        reset_timeout_s: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
        on_state_change: Callable[[str, BreakerState], None] | None = None,
    ) -> None:
        if failure_threshold < 1:
            raise ValueError("failure_threshold must be at least 1")
        self.name = name
        self.failure_threshold = failure_threshold
        self.reset_timeout_s = reset_timeout_s
        self._clock = clock
        self._on_state_change = on_state_change
        self._state = BreakerState.CLOSED
        self._failures = 0
        self._opened_at = 0.0
        self._probing = False
        if on_state_change is not None:
            on_state_change(name, self._state)

    @property
    def state(self) -> BreakerState:
        """The state as of the last call; OPEN turns HALF_OPEN lazily, on the first `allow()`
        after the cool-down."""
        return self._state

    @property
    def consecutive_failures(self) -> int:
        return self._failures

    def allow(self) -> bool:
        if self._state is BreakerState.CLOSED:
            return True
        if self._state is BreakerState.OPEN:
            if self._clock() - self._opened_at < self.reset_timeout_s:
                return False
            self._set(BreakerState.HALF_OPEN)
        if self._probing:  # HALF_OPEN: one probe at a time
            return False
        self._probing = True
        return True

    def record_success(self) -> None:
        self._failures = 0
        if self._state is BreakerState.HALF_OPEN:
            self._probing = False
            self._set(BreakerState.CLOSED)

    def record_failure(self) -> None:
        if self._state is BreakerState.OPEN:
            return  # a call from before the circuit opened; the cool-down stands
        self._failures += 1
        if self._state is BreakerState.HALF_OPEN or self._failures >= self.failure_threshold:
            self._probing = False
            self._opened_at = self._clock()
            self._set(BreakerState.OPEN)

    def record_abandoned(self) -> None:
        """The caller gave up on the call (cancelled) without learning anything: free the probe
        slot so the next call can probe."""
        if self._state is BreakerState.HALF_OPEN:
            self._probing = False

    def _set(self, state: BreakerState) -> None:
        if state is self._state:
            return
        self._state = state
        if self._on_state_change is not None:
            self._on_state_change(self.name, state)
