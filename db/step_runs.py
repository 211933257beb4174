"""One row per step attempt: how long it took, how it ended, and which message it worked for."""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from psycopg import Connection
from psycopg.rows import class_row, tuple_row


@dataclass(frozen=True)
class StepSubject:
    """What the step annotated (actors/middleware.py annotate): None when it did not get there."""

    tenant_id: int | None = None
    message_id: int | None = None
    inbound_event_id: int | None = None


def record_step_run(
    conn: Connection[object],
    *,
    actor: str,
    message_id: str,
    attempt: int,
    started_at: datetime,
    outcome: str,
    error: str | None,
    ready_at: datetime | None = None,
    subject: StepSubject = StepSubject(),
) -> None:
    conn.execute(
        "INSERT INTO step_runs (actor, message_id, attempt, started_at, finished_at, outcome,"
        " error, ready_at, tenant_id, subject_message_id, inbound_event_id)"
        " VALUES (%s, %s, %s, %s, now(), %s, %s, %s, %s, %s, %s)",
        (
            actor,
            message_id,
            attempt,
            started_at,
            outcome,
            error,
            ready_at,
            subject.tenant_id,
            subject.message_id,
            subject.inbound_event_id,
        ),
    )


@dataclass(frozen=True)
class StepRun:
    id: int
    actor: str
    message_id: str
    attempt: int
    ready_at: datetime | None
    started_at: datetime
    finished_at: datetime
    outcome: str
    error: str | None
    subject_message_id: int | None

    @property
    def wait_seconds(self) -> float | None:
        """In the queue, from ready to picked up by a worker."""
        if self.ready_at is None:
            return None
        return max(0.0, (self.started_at - self.ready_at).total_seconds())

    @property
    def work_seconds(self) -> float:
        return (self.finished_at - self.started_at).total_seconds()


_RUN = (
    "id, actor, message_id::text AS message_id, attempt, ready_at, started_at, finished_at,"
    " outcome, error, subject_message_id"
)


def runs_for_messages(
    conn: Connection[object],
    tenant_id: int,
    message_ids: Sequence[int],
    inbound_event_id: int | None,
) -> list[StepRun]:
    """Every run that worked on these messages of the tenant, or read this inbound event (an
    ingest attempt that failed before its message existed), in the order they started."""
    cur = conn.cursor(row_factory=class_row(StepRun))
    return cur.execute(
        f"""
        SELECT {_RUN} FROM step_runs
        WHERE tenant_id = %(tenant)s AND subject_message_id = ANY(%(messages)s)
        UNION
        SELECT {_RUN} FROM step_runs
        WHERE inbound_event_id = %(event)s AND tenant_id = %(tenant)s
        ORDER BY started_at, id
        """,
        {"tenant": tenant_id, "messages": list(message_ids), "event": inbound_event_id},
    ).fetchall()


def runs_of_jobs(conn: Connection[object], job_ids: Sequence[str]) -> list[StepRun]:
    """The runs of these broker messages (e.g. the jobs a dead letter was requeued as)."""
    cur = conn.cursor(row_factory=class_row(StepRun))
    return cur.execute(
        f"SELECT {_RUN} FROM step_runs WHERE message_id = ANY(%s::uuid[]) ORDER BY started_at, id",
        (list(job_ids),),
    ).fetchall()


def finished_counts(conn: Connection[object], tenant_id: int | None) -> tuple[int, int, int, int]:
    """(ok in the last minute, failed or retried in the last minute, ok in the last hour,
    failed or retried in the last hour), of one tenant or of all."""
    cur = conn.cursor(row_factory=tuple_row)
    row = cur.execute(
        """
        SELECT count(*) FILTER (WHERE outcome = 'ok' AND finished_at > now() - interval '1 minute'),
               count(*) FILTER (WHERE outcome <> 'ok'
                                AND finished_at > now() - interval '1 minute'),
               count(*) FILTER (WHERE outcome = 'ok'),
               count(*) FILTER (WHERE outcome <> 'ok')
        FROM step_runs
        WHERE finished_at > now() - interval '1 hour'
          AND (%(tenant)s::bigint IS NULL OR tenant_id = %(tenant)s)
        """,
        {"tenant": tenant_id},
    ).fetchone()
    assert row is not None
    return (int(row[0]), int(row[1]), int(row[2]), int(row[3]))
