"""The inbox's composer: the conversation as an agent acts on it, and the messages agents write.

Every function takes the tenant id: a conversation or message id alone never reaches another
tenant's rows.
"""

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from uuid import UUID

from psycopg import Connection
from psycopg import errors as pg_errors
from psycopg.rows import class_row, tuple_row
from psycopg.types.json import Jsonb

from domain.models import ConversationStatus


@dataclass(frozen=True)
class ComposerConversation:
    id: int
    channel: str
    status: ConversationStatus
    last_inbound_at: datetime | None
    closed_at: datetime | None
    needs_human_reason: str | None
    assigned_user_id: int | None
    assigned_at: datetime | None
    assignee_name: str | None
    profile_name: str | None
    lead_name: str | None

    def __post_init__(self) -> None:
        # The column's text becomes its enum here, once for every reader.
        object.__setattr__(self, "status", ConversationStatus(self.status))


_CONVERSATION = """
    SELECT v.id, v.channel, v.status, v.last_inbound_at, v.closed_at, v.needs_human_reason,
        v.assigned_user_id, v.assigned_at,
        coalesce(u.display_name, split_part(u.email, '@', 1)) AS assignee_name,
        c.profile_name, l.name AS lead_name
    FROM conversations v
    JOIN contacts c ON c.id = v.contact_id AND c.tenant_id = v.tenant_id
    LEFT JOIN leads l ON l.contact_id = v.contact_id AND l.tenant_id = v.tenant_id
    LEFT JOIN users u ON u.id = v.assigned_user_id
    WHERE v.tenant_id = %s AND v.id = %s
"""


def composer_conversation(
    conn: Connection[object], tenant_id: int, conversation_id: int, *, lock: bool = False
) -> ComposerConversation | None:
    """The conversation; with `lock`, its row is locked until the transaction ends, so an
    action and the send step's claim (db/outbox.lock_for_send) see each other's effect."""
    cur = conn.cursor(row_factory=class_row(ComposerConversation))
    locking = " FOR NO KEY UPDATE OF v" if lock else ""
    return cur.execute(_CONVERSATION + locking, (tenant_id, conversation_id)).fetchone()


@dataclass(frozen=True)
class QuotedMessage:
    id: int
    direction: str
    type: str
    text: str | None
    provider_message_id: str | None


def quoted_message(
    conn: Connection[object], tenant_id: int, conversation_id: int, message_id: int
) -> QuotedMessage | None:
    """A message of this conversation (and tenant) an agent's reply may quote."""
    cur = conn.cursor(row_factory=class_row(QuotedMessage))
    return cur.execute(
        "SELECT id, direction, type, text, provider_message_id FROM messages"
        " WHERE tenant_id = %s AND conversation_id = %s AND id = %s",
        (tenant_id, conversation_id, message_id),
    ).fetchone()


@dataclass(frozen=True)
class ComposedMessage:
    tenant_id: int
    conversation_id: int
    channel: str
    type: str
    text: str | None
    details: dict[str, Any] = field(hash=False)
    # The quoted message's provider id: the send carries it as WhatsApp's reply context.
    reply_to: str | None
    sent_by_user_id: int
    compose_key: UUID


def insert_composed(conn: Connection[object], message: ComposedMessage) -> int | None:
    """The outbound row, `pending`; None when this compose key was used already (a double click
    or a resubmitted form): nothing is inserted then."""
    row = (
        conn.cursor(row_factory=tuple_row)
        .execute(
            """
            INSERT INTO messages (tenant_id, conversation_id, channel, direction, type, text,
                                  details, reply_to, delivery_status, sent_by_user_id, compose_key)
            VALUES (%s, %s, %s, 'out', %s, %s, %s, %s, 'pending', %s, %s)
            ON CONFLICT (tenant_id, compose_key) WHERE compose_key IS NOT NULL DO NOTHING
            RETURNING id
            """,
            (
                message.tenant_id,
                message.conversation_id,
                message.channel,
                message.type,
                message.text,
                Jsonb(message.details),
                message.reply_to,
                message.sent_by_user_id,
                message.compose_key,
            ),
        )
        .fetchone()
    )
    return None if row is None else int(row[0])


def composed_message_id(conn: Connection[object], tenant_id: int, compose_key: UUID) -> int | None:
    row = (
        conn.cursor(row_factory=tuple_row)
        .execute(
            "SELECT id FROM messages WHERE tenant_id = %s AND compose_key = %s",
            (tenant_id, compose_key),
        )
        .fetchone()
    )
    return None if row is None else int(row[0])


def assign(
    conn: Connection[object], tenant_id: int, conversation_id: int, user_id: int | None
) -> None:
    """Give the conversation to `user_id` (None: to nobody)."""
    conn.execute(
        """
        UPDATE conversations SET assigned_user_id = %s,
            assigned_at = CASE WHEN %s::bigint IS NULL THEN NULL ELSE now() END, updated_at = now()
        WHERE tenant_id = %s AND id = %s
        """,
        (user_id, user_id, tenant_id, conversation_id),
    )


def close(conn: Connection[object], tenant_id: int, conversation_id: int) -> None:
    """Closed: the assistant's pending replies are withdrawn at send time, and nobody needs to
    act on its notifications any more."""
    conn.execute(
        "UPDATE conversations SET status = 'closed', closed_at = now(), updated_at = now()"
        " WHERE tenant_id = %s AND id = %s AND status <> 'closed'",
        (tenant_id, conversation_id),
    )
    conn.execute(
        "UPDATE agent_notifications SET acknowledged_at = now()"
        " WHERE tenant_id = %s AND conversation_id = %s AND acknowledged_at IS NULL",
        (tenant_id, conversation_id),
    )


def reopen(conn: Connection[object], tenant_id: int, conversation_id: int) -> int | None:
    """Open again, with the assistant; the id of the contact's other live conversation instead
    when there is one (at most one is live per contact and channel: conversations_one_live)."""
    other = _other_live(conn, tenant_id, conversation_id)
    if other is not None:
        return other
    try:
        with conn.transaction():
            conn.execute(
                "UPDATE conversations SET status = 'open', closed_at = NULL,"
                " needs_human_reason = NULL, handoff_at = NULL, updated_at = now()"
                " WHERE tenant_id = %s AND id = %s AND status = 'closed'",
                (tenant_id, conversation_id),
            )
    except pg_errors.UniqueViolation:
        # The customer wrote meanwhile and a new conversation opened.
        return _other_live(conn, tenant_id, conversation_id)
    return None


def _other_live(conn: Connection[object], tenant_id: int, conversation_id: int) -> int | None:
    row = (
        conn.cursor(row_factory=tuple_row)
        .execute(
            """
            SELECT o.id FROM conversations v
            JOIN conversations o ON o.tenant_id = v.tenant_id AND o.contact_id = v.contact_id
                AND o.channel = v.channel AND o.id <> v.id AND o.status <> 'closed'
            WHERE v.tenant_id = %s AND v.id = %s
            """,
            (tenant_id, conversation_id),
        )
        .fetchone()
    )
    return None if row is None else int(row[0])
