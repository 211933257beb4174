"""The database's clock: one time for every process that compares times it wrote."""

from datetime import datetime

from psycopg import Connection
from psycopg.rows import tuple_row


def database_now(conn: Connection[object]) -> datetime:
    row = conn.cursor(row_factory=tuple_row).execute("SELECT clock_timestamp()").fetchone()
    assert row is not None
    now: datetime = row[0]
    return now
