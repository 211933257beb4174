"""Dead letters: steps that failed for good, kept for an operator to inspect and requeue."""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from psycopg import Connection
from psycopg.rows import class_row, tuple_row
from psycopg.types.json import Jsonb


@dataclass(frozen=True)
class DeadLetter:
    id: int
    message_id: UUID
    queue_name: str
    actor: str
    args: list[Any]
    kwargs: dict[str, Any]
    attempts: int
    exception_type: str
    exception_text: str
    traceback: str
    tenant_id: int | None
    conversation_id: int | None
    related: dict[str, Any]
    state: str
    first_failed_at: datetime
    last_failed_at: datetime
    failures: int


@dataclass(frozen=True)
class Failure:
    message_id: str
    queue_name: str
    actor: str
    args: list[Any]
    kwargs: dict[str, Any]
    attempts: int
    exception_type: str
    exception_text: str
    traceback: str
    tenant_id: int | None
    conversation_id: int | None
    related: dict[str, Any]


_COLUMNS = (
    "id, message_id, queue_name, actor, args, kwargs, attempts, exception_type, exception_text,"
    " traceback, tenant_id, conversation_id, related, state, first_failed_at, last_failed_at,"
    " failures"
)


def record_failure(conn: Connection[object], failure: Failure, requeued_from: int | None) -> int:
    """A new dead letter, or, for a requeued step that failed again, the original one revived."""
    params = {
        **failure.__dict__,
        "args": Jsonb(failure.args),
        "kwargs": Jsonb(failure.kwargs),
        "related": Jsonb(failure.related),
        "requeued_from": requeued_from,
    }
    cur = conn.cursor(row_factory=tuple_row)
    if requeued_from is not None:
        row = cur.execute(
            """
            UPDATE dead_letters SET state = 'dead', attempts = attempts + %(attempts)s,
                exception_type = %(exception_type)s, exception_text = %(exception_text)s,
                traceback = %(traceback)s, last_failed_at = now(), failures = failures + 1,
                tenant_id = COALESCE(%(tenant_id)s, tenant_id),
                conversation_id = COALESCE(%(conversation_id)s, conversation_id)
            WHERE id = %(requeued_from)s
            RETURNING id
            """,
            params,
        ).fetchone()
        if row:
            dead_letter_id: int = row[0]
            return dead_letter_id
    row = cur.execute(
        """
        INSERT INTO dead_letters (message_id, queue_name, actor, args, kwargs, attempts,
            exception_type, exception_text, traceback, tenant_id, conversation_id, related)
        VALUES (%(message_id)s, %(queue_name)s, %(actor)s, %(args)s, %(kwargs)s, %(attempts)s,
            %(exception_type)s, %(exception_text)s, %(traceback)s, %(tenant_id)s,
            %(conversation_id)s, %(related)s)
        ON CONFLICT (message_id) DO UPDATE SET last_failed_at = now()
        RETURNING id
        """,
        params,
    ).fetchone()
    assert row is not None
    inserted_id: int = row[0]
    return inserted_id


def mark_resolved(conn: Connection[object], dead_letter_id: int) -> None:
    """A requeued step completed: the letter is settled."""
    conn.execute(
        "UPDATE dead_letters SET state = 'resolved' WHERE id = %s AND state = 'requeued'",
        (dead_letter_id,),
    )


def mark_unsettled(conn: Connection[object], dead_letter_id: int, outcome: str) -> None:
    """A requeued step ran without error but could not do its work: the letter is dead again,
    with what happened (`related.requeue_outcome`), for a person to decide."""
    conn.execute(
        "UPDATE dead_letters SET state = 'dead',"
        " related = related || jsonb_build_object('requeue_outcome', %s::text)"
        " WHERE id = %s AND state = 'requeued'",
        (outcome, dead_letter_id),
    )


def resolve_send_failures(conn: Connection[object], tenant_id: int, message_id: int) -> list[int]:
    """The message was delivered after all: its send step's dead letters are settled."""
    cur = conn.cursor(row_factory=tuple_row)
    rows = cur.execute(
        "UPDATE dead_letters SET state = 'resolved'"
        " WHERE tenant_id = %s AND actor = 'send_message' AND args = %s AND state = 'dead'"
        " RETURNING id",
        (tenant_id, Jsonb([message_id])),
    ).fetchall()
    return [row[0] for row in rows]


def lock_dead_letter(conn: Connection[object], dead_letter_id: int) -> DeadLetter | None:
    """The letter, row-locked until the caller's transaction ends.

    A concurrent requeue of the same letter waits here, then reads the state the first one left.
    """
    cur = conn.cursor(row_factory=class_row(DeadLetter))
    return cur.execute(
        f"SELECT {_COLUMNS} FROM dead_letters WHERE id = %s FOR UPDATE", (dead_letter_id,)
    ).fetchone()


def mark_requeued(conn: Connection[object], dead_letter_id: int) -> None:
    conn.execute(
        "UPDATE dead_letters SET state = 'requeued' WHERE id = %s AND state = 'dead'",
        (dead_letter_id,),
    )


def record_requeue(
    conn: Connection[object], dead_letter_id: int, message_id: str, requeued_by: str
) -> None:
    conn.execute(
        "INSERT INTO dead_letter_requeues (dead_letter_id, message_id, requeued_by)"
        " VALUES (%s, %s, %s)",
        (dead_letter_id, message_id, requeued_by),
    )


def get_dead_letter(conn: Connection[object], dead_letter_id: int) -> DeadLetter | None:
    cur = conn.cursor(row_factory=class_row(DeadLetter))
    return cur.execute(
        f"SELECT {_COLUMNS} FROM dead_letters WHERE id = %s", (dead_letter_id,)
    ).fetchone()


def list_dead_letters(
    conn: Connection[object],
    *,
    actor: str | None = None,
    since: datetime | None = None,
    states: Sequence[str] = ("dead",),
    limit: int | None = 100,
    tenant_id: int | None = None,
) -> list[DeadLetter]:
    """Newest first; `limit` None: all of them (LIMIT NULL)."""
    cur = conn.cursor(row_factory=class_row(DeadLetter))
    return cur.execute(
        f"""
        SELECT {_COLUMNS} FROM dead_letters
        WHERE state = ANY(%(states)s)
          AND (%(actor)s::text IS NULL OR actor = %(actor)s)
          AND (%(since)s::timestamptz IS NULL OR last_failed_at >= %(since)s)
          AND (%(tenant_id)s::bigint IS NULL OR tenant_id = %(tenant_id)s)
        ORDER BY last_failed_at DESC, id DESC
        LIMIT %(limit)s
        """,
        {
            "states": list(states),
            "actor": actor,
            "since": since,
            "limit": limit,
            "tenant_id": tenant_id,
        },
    ).fetchall()


def discard(conn: Connection[object], ids: Sequence[int]) -> int:
    cur = conn.execute(
        "UPDATE dead_letters SET state = 'discarded' WHERE id = ANY(%s) AND state = 'dead'",
        (list(ids),),
    )
    return cur.rowcount


def counts_by_state(conn: Connection[object]) -> dict[str, int]:
    cur = conn.cursor(row_factory=tuple_row)
    rows = cur.execute("SELECT state, count(*) FROM dead_letters GROUP BY state").fetchall()
    return {state: count for state, count in rows}


def unsettled_counts(conn: Connection[object]) -> dict[str, int]:
    """Dead and requeued letters, through the state index: settled ones are never read."""
    cur = conn.cursor(row_factory=tuple_row)
    rows = cur.execute(
        "SELECT state, count(*) FROM dead_letters WHERE state IN ('dead', 'requeued')"
        " GROUP BY state"
    ).fetchall()
    return {"dead": 0, "requeued": 0} | dict(rows)


def requeue_history(
    conn: Connection[object], dead_letter_id: int
) -> list[tuple[str, str, datetime]]:
    cur = conn.cursor(row_factory=tuple_row)
    return cur.execute(
        "SELECT message_id::text, requeued_by, requeued_at FROM dead_letter_requeues"
        " WHERE dead_letter_id = %s ORDER BY requeued_at",
        (dead_letter_id,),
    ).fetchall()
