"""Circuit breaker per tenant and channel: stop calling a provider that keeps failing."""

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum


class BreakerState(StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


@dataclass(frozen=True)
class Breaker:
    state: BreakerState
    failures: int
    # OPEN: when calls may resume. HALF_OPEN: when an unreported trial call is given up on.
    until: datetime | None


@dataclass(frozen=True)
class BreakerPolicy:
    failure_threshold: int = 5
    cooldown: timedelta = timedelta(seconds=30)
    # A trial call that never reports back (its worker died) frees the slot after this long.
    trial_timeout: timedelta = timedelta(seconds=60)


CLOSED = Breaker(BreakerState.CLOSED, 0, None)


def admit(breaker: Breaker, now: datetime, policy: BreakerPolicy) -> tuple[bool, Breaker]:
    """May a call go out now? Returns the decision and the breaker to store."""
    if breaker.state == BreakerState.CLOSED:
        return True, breaker
    assert breaker.until is not None
    if now < breaker.until:
        return False, breaker
    # Cool-down over (or the previous trial vanished): this call is the one trial.
    return True, Breaker(BreakerState.HALF_OPEN, breaker.failures, now + policy.trial_timeout)


def on_transient_failure(breaker: Breaker, now: datetime, policy: BreakerPolicy) -> Breaker:
    failures = breaker.failures + 1
    if breaker.state == BreakerState.HALF_OPEN or failures >= policy.failure_threshold:
        return Breaker(BreakerState.OPEN, failures, now + policy.cooldown)
    return Breaker(BreakerState.CLOSED, failures, None)
