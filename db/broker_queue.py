"""Housekeeping queries on dramatiq-pg's queue table (psycopg 3; the caller owns the transaction).

The broker's consumers hold a session-level advisory lock per message they own, keyed by
`message_lock_key` and taken by CONSUME_SQL; the sweeper reads pg_locks with the same key computed
in SQL, so the two definitions below must agree (tests/actors checks they do).
"""

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from psycopg import Connection
from psycopg.rows import class_row, tuple_row


def message_lock_key(queue_name: str, message_id: str) -> int:
    """The advisory lock key of one message in one queue: 64 bits of sha256, signed."""
    digest = hashlib.sha256(f"{queue_name}/{message_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


# The same key computed from a queue row.
_LOCK_KEY_SQL = (
    "('x' || left(encode(sha256(convert_to(q.queue_name || '/' || q.message_id::text, 'UTF8')),"
    " 'hex'), 16))::bit(64)::bigint"
)

# The broker's consume statement (actors/broker.py runs it through psycopg2; named parameters read
# the same in both drivers). Lock, update and, when no row was taken, unlock in one statement:
# the lock is tried once (a materialized CTE), so a concurrent update making PostgreSQL re-check
# the UPDATE's WHERE clause cannot take it twice, and a lock taken for a row that turned out to be
# finished or moved to another queue is released before the statement returns.
CONSUME_SQL = """
WITH candidate AS MATERIALIZED (
    SELECT pg_try_advisory_lock(%(lock)s) AS locked
    FROM dramatiq.queue
    WHERE message_id = %(message_id)s AND queue_name = %(queue_name)s
        AND state IN ('queued', 'consumed')
), taken AS (
    UPDATE dramatiq.queue AS q
    SET state = 'consumed', mtime = now()
    FROM candidate
    WHERE candidate.locked AND q.message_id = %(message_id)s AND q.queue_name = %(queue_name)s
        AND q.state IN ('queued', 'consumed')
    RETURNING q.message::text AS message
)
SELECT taken.message,
    CASE WHEN taken.message IS NULL THEN pg_advisory_unlock(%(lock)s) END AS released
FROM candidate LEFT JOIN taken ON true
WHERE candidate.locked
"""

# Advisory locks on bigint keys appear in pg_locks split in two oids (classid high, objid low).
_HELD_KEYS = """
SELECT (classid::bigint << 32) | objid::bigint AS key
FROM pg_locks
WHERE locktype = 'advisory' AND objsubid = 1 AND granted
    AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
"""

# Two budgets: consumed rows are what a dead worker leaves behind; old queued rows are mostly
# waiting in a live backlog (announcing them again only makes consumers race), but oldest first
# a queued row whose notification was lost still comes up within a few sweeps.
_STALE = f"""
WITH held AS MATERIALIZED ({_HELD_KEYS}),
stale AS (
    SELECT q.queue_name, q.message_id, q.state::text AS state, q.mtime
    FROM dramatiq.queue AS q
    WHERE q.state IN ('queued', 'consumed')
        AND q.mtime < now() - %(older_than)s::interval
        AND NOT EXISTS (SELECT 1 FROM held WHERE held.key = {_LOCK_KEY_SQL})
)
(SELECT * FROM stale WHERE state = 'consumed' ORDER BY mtime LIMIT %(consumed_limit)s)
UNION ALL
(SELECT * FROM stale WHERE state = 'queued' ORDER BY mtime LIMIT %(queued_limit)s)
"""

# Same channel and payload shape as dramatiq-pg's enqueue.
_REANNOUNCE = """
SELECT pg_notify(
    'dramatiq.' || q.queue_name || '.enqueue',
    CASE WHEN octet_length(q.message::text) >= 8000
        THEN jsonb_build_object('message_id', q.message_id::text)::text
        ELSE q.message::text
    END
)
FROM dramatiq.queue AS q
WHERE q.message_id = ANY(%s) AND q.state IN ('queued', 'consumed')
"""

_PURGE = """
DELETE FROM dramatiq.queue WHERE state IN ('done', 'rejected') AND mtime < now() - %s::interval
"""

_STATS = """
SELECT queue_name, state::text AS state, count(*) AS count, min(mtime) AS oldest
FROM dramatiq.queue
GROUP BY queue_name, state
ORDER BY queue_name, state
"""

# Only the unfinished rows, through the (state, mtime) index: the cost follows the backlog, not
# the finished rows kept for RECADO_QUEUE_RETENTION_DAYS.
_UNFINISHED_STATS = """
SELECT queue_name, state::text AS state, count(*) AS count, min(mtime) AS oldest
FROM dramatiq.queue
WHERE state IN ('queued', 'consumed')
GROUP BY queue_name, state
ORDER BY queue_name, state
"""


@dataclass(frozen=True)
class StaleMessage:
    queue_name: str
    message_id: UUID
    state: str
    mtime: datetime


@dataclass(frozen=True)
class QueueStat:
    queue_name: str
    state: str
    count: int
    oldest: datetime


def stale_messages(
    conn: Connection[object],
    older_than: timedelta,
    *,
    consumed_limit: int = 200,
    queued_limit: int = 20,
) -> list[StaleMessage]:
    """Unfinished rows untouched for `older_than` whose advisory lock no session holds.

    Consumed rows first, each state oldest first.
    """
    cur = conn.cursor(row_factory=class_row(StaleMessage))
    params = {
        "older_than": older_than,
        "consumed_limit": consumed_limit,
        "queued_limit": queued_limit,
    }
    return cur.execute(_STALE, params).fetchall()


def reannounce(conn: Connection[object], message_ids: Sequence[UUID]) -> int:
    """Notify the enqueue channel again for those of `message_ids` still unfinished."""
    if not message_ids:
        return 0
    cur = conn.cursor(row_factory=tuple_row)
    return len(cur.execute(_REANNOUNCE, (list(message_ids),)).fetchall())


def purge_finished(conn: Connection[object], older_than: timedelta) -> int:
    """Delete done and rejected rows last changed more than `older_than` ago."""
    return conn.execute(_PURGE, (older_than,)).rowcount


def stats(conn: Connection[object]) -> list[QueueStat]:
    cur = conn.cursor(row_factory=class_row(QueueStat))
    return cur.execute(_STATS).fetchall()


def unfinished_stats(conn: Connection[object]) -> list[QueueStat]:
    """`stats` of the queued and consumed rows only, at a cost independent of the finished ones."""
    cur = conn.cursor(row_factory=class_row(QueueStat))
    return cur.execute(_UNFINISHED_STATS).fetchall()


def row_estimate(conn: Connection[object]) -> int:
    """Rows in the queue table by the planner's statistics (autovacuum keeps them recent)."""
    cur = conn.cursor(row_factory=tuple_row)
    row = cur.execute(
        "SELECT greatest(reltuples, 0)::bigint FROM pg_class WHERE oid = 'dramatiq.queue'::regclass"
    ).fetchone()
    assert row is not None
    estimate: int = row[0]
    return estimate


def probe(conn: Connection[object]) -> None:
    """Raise unless the queue table answers: one primary-key lookup, whatever its size."""
    conn.execute(
        "SELECT 1 FROM dramatiq.queue WHERE message_id = '00000000-0000-0000-0000-000000000000'"
    )


def advisory_lock_count(conn: Connection[object]) -> int:
    """Advisory locks held cluster-wide: they share the server's fixed-size lock table."""
    cur = conn.cursor(row_factory=tuple_row)
    row = cur.execute("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'").fetchone()
    assert row is not None
    count: int = row[0]
    return count


def try_job_lock(conn: Connection[object], key: int) -> bool:
    """Take a transaction-level advisory lock, so one process of many runs a periodic job."""
    cur = conn.cursor(row_factory=tuple_row)
    row = cur.execute("SELECT pg_try_advisory_xact_lock(%s)", (key,)).fetchone()
    assert row is not None
    taken: bool = row[0]
    return taken


# Delayed jobs of one actor for one tenant, due later than a time: they are finished here and
# their messages returned, for the caller to queue them again sooner. The job's first argument
# names a row of a tenant-scoped table (a conversation, an outbound message). A row a worker
# already holds in memory runs at its old time, or never after that worker stops; its step then
# finds its work done.
_TAKE_PARKED = """
WITH candidates AS MATERIALIZED (
    SELECT q.queue_name, q.message_id, q.message
    FROM dramatiq.queue AS q
    WHERE q.queue_name = %(queue_name)s AND q.state IN ('queued', 'consumed')
        AND q.message->>'actor_name' = %(actor)s
        AND (q.message->'options'->>'eta')::bigint > %(later_than_ms)s
        AND jsonb_typeof(q.message->'args'->0) = 'number'
), parked AS (
    SELECT c.* FROM candidates AS c
    JOIN {table} AS t ON t.id = (c.message->'args'->>0)::bigint AND t.tenant_id = %(tenant_id)s
)
UPDATE dramatiq.queue AS q SET state = 'done', mtime = now()
FROM parked AS p
WHERE q.queue_name = p.queue_name AND q.message_id = p.message_id
    AND q.state IN ('queued', 'consumed')
RETURNING p.message
"""
# What a job's first argument may name.
_SCOPES = {"conversation": "conversations", "message": "messages"}


def take_parked(
    conn: Connection[object],
    *,
    tenant_id: int,
    queue_name: str,
    actor: str,
    scope: str,
    later_than_ms: int,
) -> list[dict[str, Any]]:
    """The stored messages of `actor`'s delayed jobs whose first argument is one of the tenant's
    rows of `scope` (conversation, message), due after `later_than_ms` (epoch milliseconds, as
    Dramatiq's eta); those jobs are finished."""
    cur = conn.cursor(row_factory=tuple_row)
    params = {
        "queue_name": queue_name,
        "actor": actor,
        "later_than_ms": later_than_ms,
        "tenant_id": tenant_id,
    }
    statement = _TAKE_PARKED.replace("{table}", _SCOPES[scope])
    return [row[0] for row in cur.execute(statement, params).fetchall()]


# What the broker (actors/broker.py) runs through dramatiq-pg's psycopg2 connections.

# Only the row this consumer took (same queue, still consumed): after a retry the row already
# belongs to the delay queue. No NOTIFY: nothing listens for acks, and NOTIFY serialises commits.
FINISH_SQL = """
UPDATE dramatiq.queue SET state = %(state)s, message = %(message)s, mtime = now()
WHERE message_id = %(message_id)s AND queue_name = %(queue_name)s AND state = 'consumed'
"""

# Pending messages are announced by id only: the consume statement reads the row itself.
PENDING_SQL = """
SELECT jsonb_build_object('message_id', message_id::text)::text
FROM dramatiq.queue
WHERE queue_name = %s AND state IN ('queued', 'consumed')
ORDER BY mtime
"""

# Give back prefetched messages on shutdown and announce them so a live worker takes them now.
REQUEUE_SQL = """
WITH requeued AS (
    UPDATE dramatiq.queue SET state = 'queued', mtime = now()
    WHERE message_id = ANY(%(message_ids)s::uuid[]) AND queue_name = %(queue_name)s
        AND state = 'consumed'
    RETURNING message_id
)
SELECT pg_notify(
    'dramatiq.' || %(queue_name)s || '.enqueue',
    jsonb_build_object('message_id', message_id::text)::text
)
FROM requeued
"""

UNLOCK_SQL = "SELECT pg_advisory_unlock(k) FROM unnest(%s::bigint[]) AS k"
