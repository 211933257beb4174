"""Counts for `recado queue stats`: what is waiting or stuck outside the broker's own table."""

from dataclasses import dataclass
from datetime import datetime

from psycopg import Connection
from psycopg.rows import class_row, tuple_row


@dataclass(frozen=True)
class Backlog:
    count: int
    oldest: datetime | None


def unprocessed_events(conn: Connection[object]) -> Backlog:
    """Stored inbound events whose ingest step has not finished yet."""
    cur = conn.cursor(row_factory=class_row(Backlog))
    row = cur.execute(
        "SELECT count(*) AS count, min(received_at) AS oldest"
        " FROM inbound_events WHERE processed_at IS NULL"
    ).fetchone()
    assert row is not None
    return row


def quarantined_bodies(conn: Connection[object]) -> Backlog:
    """Signed bodies we could not parse and nobody has replayed yet."""
    cur = conn.cursor(row_factory=class_row(Backlog))
    row = cur.execute(
        "SELECT count(*) AS count, min(received_at) AS oldest"
        " FROM quarantine WHERE replayed_at IS NULL"
    ).fetchone()
    assert row is not None
    return row


@dataclass(frozen=True)
class Outbox:
    pending: int
    sending: int
    # Attempts whose outcome is unknown, waiting for a status webhook before any resend.
    awaiting_evidence: int
    oldest: datetime | None


def outbox(conn: Connection[object]) -> Outbox:
    """Outbound messages not yet accepted by the provider (the partial messages_outbox index)."""
    cur = conn.cursor(row_factory=class_row(Outbox))
    row = cur.execute(
        """
        SELECT count(*) FILTER (WHERE delivery_status = 'pending') AS pending,
               count(*) FILTER (WHERE delivery_status = 'sending') AS sending,
               count(*) FILTER (WHERE delivery_status = 'sending' AND send_uncertain)
                   AS awaiting_evidence,
               min(created_at) AS oldest
        FROM messages WHERE delivery_status IN ('pending', 'sending')
        """
    ).fetchone()
    assert row is not None
    return row


def resend_total(conn: Connection[object]) -> int:
    """Resends made so far, all messages: reads the whole table."""
    cur = conn.cursor(row_factory=tuple_row)
    row = cur.execute("SELECT coalesce(sum(resends), 0) FROM messages WHERE resends > 0").fetchone()
    assert row is not None
    return int(row[0])


@dataclass(frozen=True)
class PausedTenant:
    slug: str
    since: datetime
    reason: str | None


def paused_tenants(conn: Connection[object]) -> list[PausedTenant]:
    cur = conn.cursor(row_factory=class_row(PausedTenant))
    return cur.execute(
        "SELECT slug, sending_paused_at AS since, sending_paused_reason AS reason FROM tenants"
        " WHERE sending_paused_at IS NOT NULL ORDER BY slug"
    ).fetchall()
