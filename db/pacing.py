"""Send pacing in PostgreSQL, for deployments without Redis (see domain/pacing.py)."""

from datetime import timedelta

from psycopg import Connection
from psycopg.rows import tuple_row

from domain.pacing import Rate, take


def take_slot(conn: Connection, key: str, rate: Rate) -> timedelta | None:
    """None when a send for `key` may go now (its slot is taken); else how long to wait."""
    cur = conn.cursor(row_factory=tuple_row)
    # The database's clock, so every worker process measures against the same time.
    cur.execute(
        "INSERT INTO send_pacing (key, tat) VALUES (%s, clock_timestamp()) ON CONFLICT DO NOTHING",
        (key,),
    )
    tat, now = cur.execute(
        "SELECT tat, clock_timestamp() FROM send_pacing WHERE key = %s FOR UPDATE", (key,)
    ).fetchone()
    wait, new_tat = take(tat, now, rate)
    if wait is None:
        cur.execute("UPDATE send_pacing SET tat = %s WHERE key = %s", (new_tat, key))
    return wait
