"""Counts for `recado queue stats`: what is waiting or stuck outside the broker's own table."""

from dataclasses import dataclass
from datetime import datetime

from psycopg import Connection
from psycopg.rows import class_row


@dataclass(frozen=True)
class Backlog:
    count: int
    oldest: datetime | None


def unprocessed_events(conn: Connection) -> Backlog:
    """Stored inbound events whose ingest step has not finished yet."""
    cur = conn.cursor(row_factory=class_row(Backlog))
    row = cur.execute(
        "SELECT count(*) AS count, min(received_at) AS oldest"
        " FROM inbound_events WHERE processed_at IS NULL"
    ).fetchone()
    assert row is not None
    return row


def quarantined_bodies(conn: Connection) -> Backlog:
    """Signed bodies we could not parse and nobody has replayed yet."""
    cur = conn.cursor(row_factory=class_row(Backlog))
    row = cur.execute(
        "SELECT count(*) AS count, min(received_at) AS oldest"
        " FROM quarantine WHERE replayed_at IS NULL"
    ).fetchone()
    assert row is not None
    return row
