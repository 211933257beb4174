"""Whole-history totals for /metrics, counted by a worker and read by a scrape in one row.

Counting replies, conversations or messages grows with the tables; a scrape must not. The worker
recounts (actors/metrics.py) and /metrics reads the last result with its age.
"""

from dataclasses import asdict, dataclass
from datetime import timedelta

from psycopg import Connection
from psycopg.rows import tuple_row
from psycopg.types.json import Jsonb

from db import assistant_stats
from db.dead_letters import counts_by_state
from db.overview import resend_total

SETTLED_DEAD_LETTER_STATES = ("resolved", "discarded")


@dataclass(frozen=True)
class Totals:
    # (outcome, source, count) of every planning outcome recorded.
    replies: list[tuple[str, str, int]]
    cache_lookups: dict[str, int]
    handoffs: int
    closed_conversations: int
    outbox_resends: int
    settled_dead_letters: dict[str, int]


@dataclass(frozen=True)
class Snapshot:
    totals: Totals
    age_seconds: float


def count_totals(conn: Connection[object]) -> Totals:
    """The whole-history counts: full scans, for the worker only."""
    dead_letters = counts_by_state(conn)
    return Totals(
        replies=assistant_stats.replies_by_outcome(conn),
        cache_lookups=assistant_stats.cache_lookups(conn),
        handoffs=assistant_stats.handoff_count(conn),
        closed_conversations=assistant_stats.closed_conversation_count(conn),
        outbox_resends=resend_total(conn),
        settled_dead_letters={s: dead_letters.get(s, 0) for s in SETTLED_DEAD_LETTER_STATES},
    )


def save_snapshot(conn: Connection[object], totals: Totals) -> None:
    conn.execute(
        "INSERT INTO metrics_snapshot (figures, refreshed_at) VALUES (%s, now())"
        " ON CONFLICT (id) DO UPDATE SET figures = excluded.figures,"
        " refreshed_at = excluded.refreshed_at",
        (Jsonb(asdict(totals)),),
    )


def is_fresh(conn: Connection[object], max_age: timedelta) -> bool:
    """A snapshot younger than `max_age` exists (another worker process just counted)."""
    cur = conn.cursor(row_factory=tuple_row)
    row = cur.execute(
        "SELECT 1 FROM metrics_snapshot WHERE refreshed_at > now() - %s::interval", (max_age,)
    ).fetchone()
    return row is not None


def refresh(conn: Connection[object]) -> None:
    save_snapshot(conn, count_totals(conn))


def read_snapshot(conn: Connection[object]) -> Snapshot | None:
    """The last counted totals and their age; None before a worker has counted once."""
    cur = conn.cursor(row_factory=tuple_row)
    row = cur.execute(
        "SELECT figures, extract(epoch FROM now() - refreshed_at)::float8 FROM metrics_snapshot"
    ).fetchone()
    if row is None:
        return None
    figures, age = row
    figures["replies"] = [tuple(entry) for entry in figures["replies"]]
    return Snapshot(Totals(**figures), age)
