"""Circuit breaker rows, one per tenant and channel.

Sends only read the row; they write it when the state changes (a trial claimed, a failure, the
first success after failures), so a healthy tenant's sends never queue behind one row lock.
"""

from datetime import datetime

from psycopg import Connection
from psycopg.rows import tuple_row

from domain.breaker import CLOSED, Breaker, BreakerState


def read_breaker(conn: Connection[object], tenant_id: int, channel: str) -> Breaker:
    cur = conn.cursor(row_factory=tuple_row)
    row = cur.execute(
        "SELECT state, failures, until FROM circuit_breakers WHERE tenant_id = %s AND channel = %s",
        (tenant_id, channel),
    ).fetchone()
    return CLOSED if row is None else Breaker(BreakerState(row[0]), row[1], row[2])


def claim_trial(
    conn: Connection[object], tenant_id: int, channel: str, now: datetime, trial_until: datetime
) -> bool:
    """Take the one trial call after a cool-down; False when another caller took it first."""
    cur = conn.cursor(row_factory=tuple_row)
    row = cur.execute(
        "UPDATE circuit_breakers SET state = 'half_open', until = %s, updated_at = now()"
        " WHERE tenant_id = %s AND channel = %s AND state <> 'closed' AND until <= %s"
        " RETURNING 1",
        (trial_until, tenant_id, channel, now),
    ).fetchone()
    return row is not None


def close_breaker(conn: Connection[object], tenant_id: int, channel: str) -> None:
    conn.execute(
        "UPDATE circuit_breakers SET state = 'closed', failures = 0, until = NULL,"
        " updated_at = now()"
        " WHERE tenant_id = %s AND channel = %s AND (state <> 'closed' OR failures > 0)",
        (tenant_id, channel),
    )


def lock_breaker(conn: Connection[object], tenant_id: int, channel: str) -> Breaker:
    """The breaker, locked for the caller's transaction (created closed on first use)."""
    conn.execute(
        "INSERT INTO circuit_breakers (tenant_id, channel) VALUES (%s, %s) ON CONFLICT DO NOTHING",
        (tenant_id, channel),
    )
    cur = conn.cursor(row_factory=tuple_row)
    row = cur.execute(
        "SELECT state, failures, until FROM circuit_breakers"
        " WHERE tenant_id = %s AND channel = %s FOR UPDATE",
        (tenant_id, channel),
    ).fetchone()
    assert row is not None
    return Breaker(BreakerState(row[0]), row[1], row[2])


def save_breaker(conn: Connection[object], tenant_id: int, channel: str, breaker: Breaker) -> None:
    conn.execute(
        "UPDATE circuit_breakers SET state = %s, failures = %s, until = %s, updated_at = now()"
        " WHERE tenant_id = %s AND channel = %s",
        (breaker.state.value, breaker.failures, breaker.until, tenant_id, channel),
    )


def breaker_states(conn: Connection[object]) -> list[tuple[int, str, str, int, object]]:
    """(tenant_id, channel, state, failures, until) of every breaker not plainly closed."""
    cur = conn.cursor(row_factory=tuple_row)
    return cur.execute(
        "SELECT tenant_id, channel, state, failures, until FROM circuit_breakers"
        " WHERE state <> 'closed' OR failures > 0 ORDER BY tenant_id, channel"
    ).fetchall()
