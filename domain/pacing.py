"""Send pacing as a generic cell rate algorithm: a steady rate with a bounded burst.

Each key (a business number, a recipient) keeps one time, its theoretical arrival time (TAT).
A send at `now` is allowed when TAT - burst_window <= now; it then moves TAT one interval on.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta


@dataclass(frozen=True)
class Rate:
    per_second: float
    burst: int

    @property
    def interval(self) -> timedelta:
        return timedelta(seconds=1 / self.per_second)

    @property
    def tolerance(self) -> timedelta:
        """How far ahead of now the TAT may run: `burst` sends back to back, then the rate."""
        return self.interval * (self.burst - 1)


# Meta's default throughput per business number.
NUMBER_RATE = Rate(per_second=80, burst=80)
# Meta's pair limit is about one message per 6 s to one user, with short bursts tolerated.
RECIPIENT_RATE = Rate(per_second=1 / 6, burst=5)


def take(tat: datetime | None, now: datetime, rate: Rate) -> tuple[timedelta | None, datetime]:
    """(None, new TAT) when a send may go now; (how long to wait, unchanged TAT) otherwise."""
    current = max(tat or now, now)
    if current - rate.tolerance > now:
        return current - rate.tolerance - now, current
    return None, current + rate.interval
