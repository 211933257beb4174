"""Circuit breaker rows, one per tenant and channel."""

from psycopg import Connection
from psycopg.rows import tuple_row

from domain.breaker import CLOSED, Breaker, BreakerState


def lock_breaker(conn: Connection, tenant_id: int, channel: str) -> Breaker:
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
    if row is None:
        return CLOSED
    return Breaker(BreakerState(row[0]), row[1], row[2])


def save_breaker(conn: Connection, tenant_id: int, channel: str, breaker: Breaker) -> None:
    conn.execute(
        "UPDATE circuit_breakers SET state = %s, failures = %s, until = %s, updated_at = now()"
        " WHERE tenant_id = %s AND channel = %s",
        (breaker.state.value, breaker.failures, breaker.until, tenant_id, channel),
    )


def breaker_states(conn: Connection) -> list[tuple[int, str, str, int, object]]:
    """(tenant_id, channel, state, failures, until) of every breaker not plainly closed."""
    cur = conn.cursor(row_factory=tuple_row)
    return cur.execute(
        "SELECT tenant_id, channel, state, failures, until FROM circuit_breakers"
        " WHERE state <> 'closed' OR failures > 0 ORDER BY tenant_id, channel"
    ).fetchall()
