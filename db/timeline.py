"""One conversation as the inbox shows it: header, timeline pages, reasoning, lead, notes, reads.

Every query takes the tenant id: an id of another tenant's conversation, message or note reaches
nothing. Timeline pages are keyset pages in the conversation's order (db.messages
CONVERSATION_ORDER, index messages_conversation_order); a cursor is a message id of the same
conversation, whose place in that order bounds the page.
"""

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from psycopg import Connection
from psycopg.rows import class_row, tuple_row

from db.messages import CONVERSATION_ORDER, NEWEST_FIRST
from domain.models import ConversationStatus

PAGE_SIZE = 50


@dataclass(frozen=True)
class ConversationHeader:
    id: int
    channel: str
    status: ConversationStatus
    contact_name: str | None
    # Full number: staff of the tenant call customers with it (never logged).
    phone: str | None
    assigned_to: str | None
    last_inbound_at: datetime | None
    needs_human_reason: str | None
    handoff_at: datetime | None
    closed_at: datetime | None

    def __post_init__(self) -> None:
        object.__setattr__(self, "status", ConversationStatus(self.status))


@dataclass(frozen=True)
class Reasoning:
    """The planning record (replies row) behind an assistant's outbound message."""

    intent: str | None
    confidence: float | None
    source: str
    fallback_reason: str | None
    cache_result: str | None
    prompt_tokens: int
    completion_tokens: int
    cost_usd: Decimal
    latency_ms: int | None
    model: str | None
    handoff_reason: str | None


@dataclass(frozen=True)
class Quoted:
    id: int
    direction: str
    type: str
    text: str | None


@dataclass(frozen=True)
class TimelineMessage:
    id: int
    conversation_id: int
    direction: str
    type: str
    text: str | None
    media: dict[str, Any] | None
    delivery_status: str | None
    # The provider's errors of a failure: [{code, title, message, details}, ...].
    error: list[dict[str, Any]] | None
    # Who wrote an outbound message from the inbox; None: the assistant or the system, as
    # `author` says ('assistant', 'handoff_notice').
    sent_by: str | None
    author: str | None
    at: datetime
    quoted: Quoted | None
    reasoning: Reasoning | None

    @property
    def failure_reason(self) -> str | None:
        if not self.error:
            return None
        first = self.error[0]
        parts = [str(first.get(key)) for key in ("title", "details") if first.get(key)]
        unique = list(dict.fromkeys(parts))
        code = first.get("code")
        reason = ": ".join(unique) or None
        return f"{reason} ({code})" if reason and code else reason or (str(code) if code else None)


@dataclass(frozen=True)
class TimelinePage:
    messages: list[TimelineMessage]
    # Older messages exist before the first one of this page.
    has_older: bool


@dataclass(frozen=True)
class ServiceInterest:
    service: str
    mentions: int


@dataclass(frozen=True)
class LeadPanel:
    name: str | None
    phone: str | None
    email: str | None
    stage: str
    score: int
    facts: dict[str, Any]
    services: list[ServiceInterest]


@dataclass(frozen=True)
class Note:
    id: int
    body: str
    author: str | None
    created_at: datetime


@dataclass(frozen=True)
class MediaRef:
    """What the media route needs of an inbound message's media."""

    channel: str
    type: str
    media_id: str
    mime_type: str | None
    filename: str | None


_USER_NAME = "coalesce(u.display_name, split_part(u.email, '@', 1))"


def header(
    conn: Connection[object], tenant_id: int, conversation_id: int
) -> ConversationHeader | None:
    cur = conn.cursor(row_factory=class_row(ConversationHeader))
    return cur.execute(
        f"""
        SELECT v.id, v.channel, v.status, coalesce(l.name, c.profile_name) AS contact_name,
               coalesce(c.phone_e164, l.phone_e164) AS phone, {_USER_NAME} AS assigned_to,
               v.last_inbound_at, v.needs_human_reason, v.handoff_at, v.closed_at
        FROM conversations v
        JOIN contacts c ON c.id = v.contact_id AND c.tenant_id = v.tenant_id
        LEFT JOIN leads l ON l.contact_id = v.contact_id AND l.tenant_id = v.tenant_id
        LEFT JOIN users u ON u.id = v.assigned_user_id
        WHERE v.tenant_id = %s AND v.id = %s
        """,
        (tenant_id, conversation_id),
    ).fetchone()


# The row-value of a cursor message, or NULL (no rows) for a message not of this conversation.
_CURSOR = (
    "(SELECT ordered_at, received_at, envelope_position, id FROM messages"
    " WHERE id = %(cursor)s AND tenant_id = %(tenant)s AND conversation_id = %(conversation)s)"
)
_KEY = "(m.ordered_at, m.received_at, m.envelope_position, m.id)"


def _select(where: str, order: str) -> str:
    return f"""
        SELECT m.id, m.conversation_id, m.direction, m.type, m.text, m.media, m.delivery_status,
               m.error, {_USER_NAME} AS sent_by, m.details ->> 'author' AS author,
               m.ordered_at AS at,
               q.id AS q_id, q.direction AS q_direction, q.type AS q_type, q.text AS q_text,
               r.intent, r.confidence, r.source, r.fallback_reason, r.cache_result,
               r.prompt_tokens, r.completion_tokens, r.cost_usd, r.latency_ms, r.model,
               r.handoff_reason
        FROM messages m
        LEFT JOIN users u ON u.id = m.sent_by_user_id
        LEFT JOIN LATERAL (
            SELECT id, direction, type, text FROM messages
            WHERE tenant_id = m.tenant_id AND channel = m.channel
              AND provider_message_id = m.reply_to
            LIMIT 1
        ) q ON m.reply_to IS NOT NULL
        LEFT JOIN LATERAL (
            SELECT * FROM replies
            WHERE outbound_message_id = m.id AND tenant_id = m.tenant_id
            ORDER BY id DESC LIMIT 1
        ) r ON m.direction = 'out'
        WHERE m.tenant_id = %(tenant)s AND m.conversation_id = %(conversation)s {where}
        ORDER BY {order}
        LIMIT %(limit)s
    """


def _message(row: tuple[Any, ...]) -> TimelineMessage:
    (mid, conversation_id, direction, mtype, text, media, status, error, sent_by, author, at) = row[
        :11
    ]
    q_id, q_direction, q_type, q_text = row[11:15]
    source = row[17]
    return TimelineMessage(
        id=mid,
        conversation_id=conversation_id,
        direction=direction,
        type=mtype,
        text=text,
        media=media,
        delivery_status=status,
        error=error if isinstance(error, list) else None,
        sent_by=sent_by,
        author=author,
        at=at,
        quoted=None if q_id is None else Quoted(q_id, q_direction, q_type, q_text),
        reasoning=None if source is None else Reasoning(*row[15:]),
    )


def page(
    conn: Connection[object],
    tenant_id: int,
    conversation_id: int,
    *,
    before: int | None = None,
    limit: int = PAGE_SIZE,
) -> TimelinePage:
    """The newest `limit` messages (before the cursor message `before`), oldest first."""
    where = f"AND {_KEY} < {_CURSOR}" if before is not None else ""
    params = {"tenant": tenant_id, "conversation": conversation_id, "cursor": before,
              "limit": limit + 1}  # fmt: skip
    rows = conn.cursor(row_factory=tuple_row).execute(_select(where, NEWEST_FIRST), params)
    found = [_message(row) for row in rows.fetchall()]
    return TimelinePage(messages=found[:limit][::-1], has_older=len(found) > limit)


def after(
    conn: Connection[object],
    tenant_id: int,
    conversation_id: int,
    cursor: int,
    *,
    limit: int = PAGE_SIZE,
) -> list[TimelineMessage]:
    """Up to `limit` messages after the cursor message, oldest first (the live tail)."""
    where = f"AND {_KEY} > {_CURSOR}"
    params = {"tenant": tenant_id, "conversation": conversation_id, "cursor": cursor,
              "limit": limit}  # fmt: skip
    rows = conn.cursor(row_factory=tuple_row).execute(_select(where, CONVERSATION_ORDER), params)
    return [_message(row) for row in rows.fetchall()]


def message(
    conn: Connection[object], tenant_id: int, conversation_id: int, message_id: int
) -> TimelineMessage | None:
    where = "AND m.id = %(cursor)s"
    params = {"tenant": tenant_id, "conversation": conversation_id, "cursor": message_id,
              "limit": 1}  # fmt: skip
    row = conn.cursor(row_factory=tuple_row).execute(_select(where, "m.id"), params).fetchone()
    return None if row is None else _message(row)


def lead_panel(conn: Connection[object], tenant_id: int, conversation_id: int) -> LeadPanel | None:
    cur = conn.cursor(row_factory=tuple_row)
    row = cur.execute(
        """
        SELECT l.id, l.name, coalesce(l.phone_e164, c.phone_e164), l.email, l.stage, l.score,
               l.facts
        FROM conversations v
        JOIN leads l ON l.contact_id = v.contact_id AND l.tenant_id = v.tenant_id
        JOIN contacts c ON c.id = v.contact_id AND c.tenant_id = v.tenant_id
        WHERE v.tenant_id = %s AND v.id = %s
        """,
        (tenant_id, conversation_id),
    ).fetchone()
    if row is None:
        return None
    lead_id, name, phone, email, stage, score, facts = row
    services = conn.cursor(row_factory=class_row(ServiceInterest)).execute(
        "SELECT service, mentions FROM lead_service_interest"
        " WHERE tenant_id = %s AND lead_id = %s ORDER BY mentions DESC, last_at DESC, service",
        (tenant_id, lead_id),
    )
    return LeadPanel(name, phone, email, stage, score, facts or {}, services.fetchall())


def notes(conn: Connection[object], tenant_id: int, conversation_id: int) -> list[Note]:
    """The conversation's private notes, oldest first."""
    cur = conn.cursor(row_factory=class_row(Note))
    return cur.execute(
        f"""
        SELECT n.id, n.body, {_USER_NAME} AS author, n.created_at
        FROM conversation_notes n LEFT JOIN users u ON u.id = n.user_id
        WHERE n.tenant_id = %s AND n.conversation_id = %s
        ORDER BY n.id
        """,
        (tenant_id, conversation_id),
    ).fetchall()


def add_note(
    conn: Connection[object], tenant_id: int, conversation_id: int, user_id: int, body: str
) -> int | None:
    """The new note's id; None when the tenant has no such conversation. Touches the
    conversation, so open pages hear of it (live `conversation` event)."""
    row = (
        conn.cursor(row_factory=tuple_row)
        .execute(
            """
            INSERT INTO conversation_notes (tenant_id, conversation_id, user_id, body)
            SELECT tenant_id, id, %s, %s FROM conversations WHERE tenant_id = %s AND id = %s
            RETURNING id
            """,
            (user_id, body, tenant_id, conversation_id),
        )
        .fetchone()
    )
    if row is None:
        return None
    _touch(conn, tenant_id, conversation_id)
    note_id: int = row[0]
    return note_id


def mark_read(conn: Connection[object], tenant_id: int, conversation_id: int, user_id: int) -> bool:
    """Record that the user has seen the conversation through its newest message (in the
    conversation's order); True when that moved the user's read mark.

    The conversation is not touched: a read would otherwise send a `conversation` event to
    every open page of it (refreshing other agents' fragments) for each message anyone reads.
    """
    row = (
        conn.cursor(row_factory=tuple_row)
        .execute(
            f"""
            INSERT INTO conversation_reads AS r
                (user_id, conversation_id, tenant_id, read_through_message_id)
            SELECT %(user)s, v.id, v.tenant_id, newest.id
            FROM conversations v
            CROSS JOIN LATERAL (
                SELECT id FROM messages m WHERE m.conversation_id = v.id
                ORDER BY {NEWEST_FIRST} LIMIT 1
            ) newest
            WHERE v.tenant_id = %(tenant)s AND v.id = %(conversation)s
            ON CONFLICT (user_id, conversation_id) DO UPDATE
                SET read_through_message_id = EXCLUDED.read_through_message_id, read_at = now()
                WHERE r.read_through_message_id <> EXCLUDED.read_through_message_id
            RETURNING 1
            """,
            {"user": user_id, "tenant": tenant_id, "conversation": conversation_id},
        )
        .fetchone()
    )
    return row is not None


def _touch(conn: Connection[object], tenant_id: int, conversation_id: int) -> None:
    # The live helper's trigger on conversations turns this into a `conversation` event.
    conn.execute(
        "UPDATE conversations SET updated_at = now() WHERE tenant_id = %s AND id = %s",
        (tenant_id, conversation_id),
    )


def inbound_media(conn: Connection[object], tenant_id: int, message_id: int) -> MediaRef | None:
    """The media of one of the tenant's inbound messages; None when there is none."""
    row = (
        conn.cursor(row_factory=tuple_row)
        .execute(
            "SELECT channel, type, media FROM messages"
            " WHERE tenant_id = %s AND id = %s AND direction = 'in' AND media IS NOT NULL",
            (tenant_id, message_id),
        )
        .fetchone()
    )
    if row is None:
        return None
    channel, mtype, media = row
    media_id = media.get("media_id") if isinstance(media, dict) else None
    if not isinstance(media_id, str) or not media_id:
        return None
    return MediaRef(channel, mtype, media_id, media.get("mime_type"), media.get("filename"))
