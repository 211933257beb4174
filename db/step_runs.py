"""One row per step attempt: how long it took and how it ended (the per-day failure figures)."""

from datetime import datetime

from psycopg import Connection


def record_step_run(
    conn: Connection[object],
    *,
    actor: str,
    message_id: str,
    attempt: int,
    started_at: datetime,
    outcome: str,
    error: str | None,
) -> None:
    conn.execute(
        "INSERT INTO step_runs"
        " (actor, message_id, attempt, started_at, finished_at, outcome, error)"
        " VALUES (%s, %s, %s, %s, now(), %s, %s)",
        (actor, message_id, attempt, started_at, outcome, error),
    )
