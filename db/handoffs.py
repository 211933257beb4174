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


def hand_off(
    conn: Connection[object], tenant_id: int, conversation_id: int, reason: str
) -> int | None:
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
    notification_id: int = row[0]
    return notification_id


@dataclass(frozen=True)
class Returned:
    # The customer's messages no one answered: written after the last reply that went out.
    unanswered: int
    newest_inbound: int


def return_to_bot(
    conn: Connection[object], tenant_id: int, conversation_id: int
) -> Returned | None:
    """An agent gives the conversation back; None when it was not with a person.

    What the agent answered (customer messages before the agent's last message) counts as
    answered; what the customer wrote after it is still unanswered, for the caller to act on.
    """
    cur = conn.cursor(row_factory=tuple_row)
    # Locked before the UPDATE reads the newest message: see db/planning.lock_planning_state.
    cur.execute(
        "SELECT 1 FROM conversations WHERE tenant_id = %s AND id = %s FOR UPDATE",
        (tenant_id, conversation_id),
    )
    row = cur.execute(
        """
        WITH last_answer AS (
            SELECT max(o.id) AS id FROM messages o
            WHERE o.tenant_id = %(tenant_id)s AND o.conversation_id = %(conversation_id)s
              AND o.direction = 'out' AND o.delivery_status NOT IN ('failed', 'cancelled')
        ), inbound AS (
            SELECT max(m.id) AS newest,
                max(m.id) FILTER (WHERE m.id < (SELECT id FROM last_answer)) AS answered
            FROM messages m
            WHERE m.tenant_id = %(tenant_id)s AND m.conversation_id = %(conversation_id)s
              AND m.direction = 'in'
        )
        UPDATE conversations v SET status = 'open', needs_human_reason = NULL, handoff_at = NULL,
            low_confidence_streak = 0, updated_at = now(),
            replied_through = GREATEST(v.replied_through, COALESCE(inbound.answered, 0))
        FROM inbound
        WHERE v.tenant_id = %(tenant_id)s AND v.id = %(conversation_id)s AND v.status = 'handoff'
        RETURNING v.replied_through, COALESCE(inbound.newest, 0)
        """,
        {"tenant_id": tenant_id, "conversation_id": conversation_id},
    ).fetchone()
    if row is None:
        return None
    replied_through, newest = row
    counted = cur.execute(
        "SELECT count(*) FROM messages WHERE tenant_id = %s AND conversation_id = %s"
        " AND direction = 'in' AND id > %s",
        (tenant_id, conversation_id, replied_through),
    ).fetchone()
    assert counted is not None
    (unanswered,) = counted
    conn.execute(
        "UPDATE agent_notifications SET acknowledged_at = now()"
        " WHERE tenant_id = %s AND conversation_id = %s AND acknowledged_at IS NULL",
        (tenant_id, conversation_id),
    )
    return Returned(unanswered, newest)


def open_notifications(conn: Connection[object], tenant_id: int) -> list[Notification]:
    cur = conn.cursor(row_factory=class_row(Notification))
    return cur.execute(
        "SELECT id, tenant_id, conversation_id, kind, reason, created_at, acknowledged_at"
        " FROM agent_notifications WHERE tenant_id = %s AND acknowledged_at IS NULL"
        " ORDER BY created_at, id",
        (tenant_id,),
    ).fetchall()
