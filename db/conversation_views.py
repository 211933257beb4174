"""What agents and operators see of conversations: lists, recent messages, the replies audit.

Every query takes the tenant id: a conversation id alone never reaches another tenant's data.
"""

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from psycopg import Connection
from psycopg.rows import class_row

from db.messages import NEWEST_FIRST
from domain.models import ConversationStatus


@dataclass(frozen=True)
class ConversationLine:
    id: int
    status: ConversationStatus
    # The phone number when known, else the channel's user id; callers mask it.
    contact: str | None
    needs_human_reason: str | None
    handoff_at: datetime | None
    last_inbound_at: datetime | None
    open_notifications: int

    def __post_init__(self) -> None:
        object.__setattr__(self, "status", ConversationStatus(self.status))


@dataclass(frozen=True)
class MessageLine:
    id: int
    # When it was written (an inbound message's timestamp, clamped to when we received it).
    at: datetime
    direction: str
    # Who wrote an outbound message (assistant, handoff_notice, ...); None for the customer's.
    author: str | None
    type: str
    delivery_status: str | None
    text: str | None


@dataclass(frozen=True)
class ReplyLine:
    id: int
    created_at: datetime
    through_message_id: int
    outcome: str
    source: str
    intent: str | None
    confidence: float | None
    prompt_tokens: int
    completion_tokens: int
    prompt_messages_cut: int
    prompt_chars_cut: int
    latency_ms: int | None
    cost_usd: Decimal
    handoff_reason: str | None


_CONVERSATION = """
    SELECT v.id, v.status, COALESCE(c.phone_e164, c.channel_user_id) AS contact,
        v.needs_human_reason, v.handoff_at, v.last_inbound_at,
        (SELECT count(*) FROM agent_notifications n
         WHERE n.tenant_id = v.tenant_id AND n.conversation_id = v.id
           AND n.acknowledged_at IS NULL) AS open_notifications
    FROM conversations v JOIN contacts c ON c.id = v.contact_id AND c.tenant_id = v.tenant_id
"""


# The customer wrote last: the newest message is theirs (a reply that failed or was withdrawn
# answered nothing).
_NEEDS_REPLY = f"""
    v.status <> 'closed' AND (
        SELECT m.direction FROM messages m
        WHERE m.tenant_id = v.tenant_id AND m.conversation_id = v.id
          AND NOT (m.direction = 'out' AND m.delivery_status IN ('failed', 'cancelled'))
        ORDER BY {NEWEST_FIRST} LIMIT 1
    ) = 'in'
"""


def list_conversations(
    conn: Connection[object],
    tenant_id: int,
    *,
    status: ConversationStatus | None,
    limit: int,
    needs_reply: bool = False,
) -> list[ConversationLine]:
    """Most recently active first; `status` None lists every status; `needs_reply` only those
    whose customer wrote last."""
    cur = conn.cursor(row_factory=class_row(ConversationLine))
    return cur.execute(
        _CONVERSATION + " WHERE v.tenant_id = %s AND (%s::text IS NULL OR v.status = %s)"
        f" AND (NOT %s OR ({_NEEDS_REPLY}))"
        " ORDER BY v.last_inbound_at DESC NULLS LAST, v.id DESC LIMIT %s",
        (tenant_id, status, status, needs_reply, limit),
    ).fetchall()


def conversation_line(
    conn: Connection[object], tenant_id: int, conversation_id: int
) -> ConversationLine | None:
    cur = conn.cursor(row_factory=class_row(ConversationLine))
    return cur.execute(
        _CONVERSATION + " WHERE v.tenant_id = %s AND v.id = %s", (tenant_id, conversation_id)
    ).fetchone()


def recent_messages(
    conn: Connection[object],
    tenant_id: int,
    conversation_id: int,
    limit: int,
    *,
    before: int | None = None,
) -> list[MessageLine]:
    """The newest `limit` messages (those before message `before`, a page further back, when
    given), oldest first, in the provider's order."""
    cur = conn.cursor(row_factory=class_row(MessageLine))
    rows = cur.execute(
        "SELECT id, ordered_at AS at, direction, details ->> 'author' AS author, type,"
        " delivery_status, text FROM messages"
        " WHERE tenant_id = %(tenant_id)s AND conversation_id = %(conversation_id)s"
        " AND (%(before)s::bigint IS NULL OR (ordered_at, received_at, envelope_position, id) <"
        "   (SELECT ordered_at, received_at, envelope_position, id FROM messages"
        "    WHERE tenant_id = %(tenant_id)s AND conversation_id = %(conversation_id)s"
        "      AND id = %(before)s))"
        f" ORDER BY {NEWEST_FIRST} LIMIT %(limit)s",
        {
            "tenant_id": tenant_id,
            "conversation_id": conversation_id,
            "before": before,
            "limit": limit,
        },
    ).fetchall()
    return rows[::-1]


def recent_replies(
    conn: Connection[object], tenant_id: int, conversation_id: int, limit: int
) -> list[ReplyLine]:
    """The newest `limit` planning outcomes, oldest first."""
    cur = conn.cursor(row_factory=class_row(ReplyLine))
    return cur.execute(
        """
        SELECT * FROM (
            SELECT id, created_at, through_message_id, outcome, source, intent, confidence,
                prompt_tokens, completion_tokens, prompt_messages_cut, prompt_chars_cut,
                latency_ms, cost_usd, handoff_reason
            FROM replies WHERE tenant_id = %s AND conversation_id = %s
            ORDER BY id DESC LIMIT %s
        ) newest ORDER BY id
        """,
        (tenant_id, conversation_id, limit),
    ).fetchall()
