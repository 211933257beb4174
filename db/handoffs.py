"""Hand-off: a conversation goes to a person (and an agent is notified), or comes back."""

from dataclasses import dataclass
from datetime import datetime

from psycopg import Connection
from psycopg.rows import class_row, tuple_row


@dataclass(frozen=True)
class Notification:
    id: int
    tenant_id: int
    conversation_id: int
    kind: str
    reason: str
    created_at: datetime
    acknowledged_at: datetime | None


def hand_off(conn: Connection, tenant_id: int, conversation_id: int, reason: str) -> int | None:
    """Take the conversation from the assistant; the notification's id, or None when it was
    not with the assistant (already handed off, or closed)."""
    cur = conn.cursor(row_factory=tuple_row)
    moved = cur.execute(
        "UPDATE conversations SET status = 'handoff', needs_human_reason = %s, handoff_at = now(),"
        " updated_at = now() WHERE tenant_id = %s AND id = %s AND status = 'open' RETURNING id",
        (reason, tenant_id, conversation_id),
    ).fetchone()
    if moved is None:
        return None
    row = cur.execute(
        "INSERT INTO agent_notifications (tenant_id, conversation_id, kind, reason)"
        " VALUES (%s, %s, 'handoff', %s) RETURNING id",
        (tenant_id, conversation_id, reason),
    ).fetchone()
    assert row is not None
    return row[0]


def return_to_bot(conn: Connection, tenant_id: int, conversation_id: int) -> bool:
    """An agent gives the conversation back. What the customer wrote meanwhile was the agent's
    to answer, so the assistant starts from the next message."""
    cur = conn.cursor(row_factory=tuple_row)
    # Locked before the UPDATE reads the newest message: see db/planning.lock_planning_state.
    cur.execute(
        "SELECT 1 FROM conversations WHERE tenant_id = %s AND id = %s FOR UPDATE",
        (tenant_id, conversation_id),
    )
    row = cur.execute(
        """
        UPDATE conversations v SET status = 'open', needs_human_reason = NULL, handoff_at = NULL,
            low_confidence_streak = 0, updated_at = now(),
            replied_through = GREATEST(v.replied_through, COALESCE(
                (SELECT max(m.id) FROM messages m
                 WHERE m.conversation_id = v.id AND m.tenant_id = v.tenant_id
                   AND m.direction = 'in'), 0))
        WHERE v.tenant_id = %s AND v.id = %s AND v.status = 'handoff'
        RETURNING v.id
        """,
        (tenant_id, conversation_id),
    ).fetchone()
    if row is None:
        return False
    conn.execute(
        "UPDATE agent_notifications SET acknowledged_at = now()"
        " WHERE tenant_id = %s AND conversation_id = %s AND acknowledged_at IS NULL",
        (tenant_id, conversation_id),
    )
    return True


def open_notifications(conn: Connection, tenant_id: int) -> list[Notification]:
    cur = conn.cursor(row_factory=class_row(Notification))
    return cur.execute(
        "SELECT id, tenant_id, conversation_id, kind, reason, created_at, acknowledged_at"
        " FROM agent_notifications WHERE tenant_id = %s AND acknowledged_at IS NULL"
        " ORDER BY created_at, id",
        (tenant_id,),
    ).fetchall()
