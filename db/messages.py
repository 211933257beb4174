"""Message rows, inbound and outbound, and their delivery status."""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from psycopg import Connection
from psycopg.rows import class_row, tuple_row
from psycopg.types.json import Jsonb

from domain.models import Direction, InboundMessage, ProviderError
from domain.statuses import DeliveryStatus


@dataclass(frozen=True)
class OutboundMessage:
    id: int
    tenant_id: int
    conversation_id: int
    channel: str
    provider_message_id: str | None
    delivery_status: DeliveryStatus

    def __post_init__(self) -> None:
        # The column's text becomes its enum here, once for every reader.
        object.__setattr__(self, "delivery_status", DeliveryStatus(self.delivery_status))


@dataclass(frozen=True)
class ParkedStatus:
    id: int
    status: DeliveryStatus
    status_at: datetime
    errors: list[Any]

    def __post_init__(self) -> None:
        # The column's text becomes its enum here, once for every reader.
        object.__setattr__(self, "status", DeliveryStatus(self.status))


@dataclass(frozen=True)
class ProviderOrder:
    """An inbound message's place in its conversation, compared in this field order."""

    # The provider's timestamp, clamped to when we received it (domain.window.inbound_at).
    ordered_at: datetime
    # When its webhook arrived, and where it stood in that body.
    received_at: datetime
    envelope_position: int


# A conversation's messages in the provider's order (index messages_conversation_order).
CONVERSATION_ORDER = "ordered_at, received_at, envelope_position, id"
NEWEST_FIRST = "ordered_at DESC, received_at DESC, envelope_position DESC, id DESC"
_OUTBOUND = "id, tenant_id, conversation_id, channel, provider_message_id, delivery_status"
# Which timestamp column each delivery status stamps.
_STAMP = {
    DeliveryStatus.SENT: "sent_at",
    DeliveryStatus.DELIVERED: "delivered_at",
    DeliveryStatus.READ: "read_at",
    DeliveryStatus.FAILED: "failed_at",
    DeliveryStatus.CANCELLED: "cancelled_at",
}


def insert_inbound(
    conn: Connection[object],
    *,
    tenant_id: int,
    conversation_id: int,
    channel: str,
    inbound_event_id: int,
    message: InboundMessage,
    order: ProviderOrder,
) -> int | None:
    """Store an inbound message once; None when this provider message is already stored."""
    media = None
    if message.media is not None:
        media = {
            "media_id": message.media.media_id,
            "mime_type": message.media.mime_type,
            "sha256": message.media.sha256,
            "caption": message.media.caption,
            "filename": message.media.filename,
        }
    cur = conn.cursor(row_factory=tuple_row)
    row = cur.execute(
        """
        INSERT INTO messages (tenant_id, conversation_id, channel, direction, type, text, media,
                              details, provider_message_id, reply_to, inbound_event_id,
                              provider_timestamp, ordered_at, received_at, envelope_position)
        VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
        ON CONFLICT DO NOTHING
        RETURNING id
        """,
        (
            tenant_id,
            conversation_id,
            channel,
            Direction.IN.value,
            message.type.value,
            message.text,
            Jsonb(media) if media else None,
            Jsonb(message.details),
            message.provider_message_id,
            message.reply_to,
            inbound_event_id,
            message.sent_at,
            order.ordered_at,
            order.received_at,
            order.envelope_position,
        ),
    ).fetchone()
    return row[0] if row else None


def insert_outbound(
    conn: Connection[object],
    *,
    tenant_id: int,
    conversation_id: int,
    channel: str,
    type: str,
    text: str | None,
    details: dict[str, Any] | None = None,
) -> int:
    """An outbound message starts `pending`, before any channel call (the outbox)."""
    cur = conn.cursor(row_factory=tuple_row)
    row = cur.execute(
        """
        INSERT INTO messages (tenant_id, conversation_id, channel, direction, type, text, details,
                              delivery_status)
        VALUES (%s, %s, %s, 'out', %s, %s, %s, 'pending')
        RETURNING id
        """,
        (tenant_id, conversation_id, channel, type, text, Jsonb(details or {})),
    ).fetchone()
    assert row is not None
    message_id: int = row[0]
    return message_id


def outbound_by_provider_id(
    conn: Connection[object], tenant_id: int, channel: str, provider_message_id: str
) -> OutboundMessage | None:
    cur = conn.cursor(row_factory=class_row(OutboundMessage))
    return cur.execute(
        f"SELECT {_OUTBOUND} FROM messages"
        " WHERE tenant_id = %s AND channel = %s AND provider_message_id = %s AND direction = 'out'"
        " FOR UPDATE",
        (tenant_id, channel, provider_message_id),
    ).fetchone()


def outbound_by_id(
    conn: Connection[object], tenant_id: int, message_id: int
) -> OutboundMessage | None:
    cur = conn.cursor(row_factory=class_row(OutboundMessage))
    return cur.execute(
        f"SELECT {_OUTBOUND} FROM messages"
        " WHERE tenant_id = %s AND id = %s AND direction = 'out' FOR UPDATE",
        (tenant_id, message_id),
    ).fetchone()


def delivery_status_of(conn: Connection[object], tenant_id: int, message_id: int) -> str | None:
    """An outbound message's delivery status; None when the tenant has no such message."""
    cur = conn.cursor(row_factory=tuple_row)
    row = cur.execute(
        "SELECT delivery_status FROM messages"
        " WHERE tenant_id = %s AND id = %s AND direction = 'out'",
        (tenant_id, message_id),
    ).fetchone()
    return None if row is None else row[0]


def set_delivery_status(
    conn: Connection[object],
    message_id: int,
    status: DeliveryStatus,
    at: datetime,
    errors: Sequence[ProviderError] = (),
) -> None:
    """Write a status the caller has checked with domain.statuses.advance under FOR UPDATE."""
    _write_status(conn, message_id, status, at, errors, moves=True)


def record_outranked_status(
    conn: Connection[object],
    message_id: int,
    status: DeliveryStatus,
    at: datetime,
    errors: Sequence[ProviderError] = (),
) -> None:
    """A status the message does not move to: its time and errors are kept all the same."""
    _write_status(conn, message_id, status, at, errors, moves=False)


def _write_status(
    conn: Connection[object],
    message_id: int,
    status: DeliveryStatus,
    at: datetime,
    errors: Sequence[ProviderError],
    *,
    moves: bool,
) -> None:
    # The earliest time of each status, and the errors of the earliest failure, are kept: the
    # row comes out the same whatever order the statuses arrive in (right-hand sides read the
    # row as it was before this update).
    assignments = ["updated_at = now()"]
    if moves:
        assignments.append("delivery_status = %(status)s")
    stamp = _STAMP.get(status)
    if stamp:
        assignments.append(f"{stamp} = LEAST({stamp}, %(at)s)")
    if errors:
        assignments.append(
            "error = CASE WHEN failed_at IS NULL OR %(at)s < failed_at"
            " THEN %(error)s ELSE error END"
        )
    conn.execute(
        f"UPDATE messages SET {', '.join(assignments)} WHERE id = %(id)s",
        {
            "status": status.value,
            "at": at,
            "id": message_id,
            "error": Jsonb([e.__dict__ for e in errors]),
        },
    )


def record_provider_id(conn: Connection[object], message_id: int, provider_message_id: str) -> None:
    conn.execute(
        "UPDATE messages SET provider_message_id = %s, send_uncertain = false, updated_at = now()"
        " WHERE id = %s AND provider_message_id IS NULL",
        (provider_message_id, message_id),
    )


def park_status(
    conn: Connection[object],
    *,
    tenant_id: int,
    channel: str,
    provider_message_id: str,
    status: DeliveryStatus,
    at: datetime,
    errors: Sequence[ProviderError],
    inbound_event_id: int,
) -> None:
    conn.execute(
        """
        INSERT INTO pending_statuses (tenant_id, channel, provider_message_id, status, status_at,
                                      errors, inbound_event_id)
        VALUES (%s, %s, %s, %s, %s, %s, %s)
        ON CONFLICT (inbound_event_id) DO NOTHING
        """,
        (
            tenant_id,
            channel,
            provider_message_id,
            status.value,
            at,
            Jsonb([e.__dict__ for e in errors]),
            inbound_event_id,
        ),
    )


def take_parked_statuses(
    conn: Connection[object], tenant_id: int, channel: str, provider_message_id: str
) -> list[ParkedStatus]:
    """Remove and return the statuses that arrived before their message was known."""
    cur = conn.cursor(row_factory=class_row(ParkedStatus))
    return cur.execute(
        "DELETE FROM pending_statuses"
        " WHERE tenant_id = %s AND channel = %s AND provider_message_id = %s"
        " RETURNING id, status, status_at, errors",
        (tenant_id, channel, provider_message_id),
    ).fetchall()


def purge_parked_statuses(conn: Connection[object], older_than: timedelta) -> int:
    """Delete statuses parked longer than `older_than`: their message never appeared.

    Housekeeping across every tenant, like the broker's purge; it reads nothing back.
    """
    return conn.execute(
        "DELETE FROM pending_statuses WHERE created_at < now() - %s", (older_than,)
    ).rowcount


def lock_provider_id(
    conn: Connection[object], tenant_id: int, channel: str, provider_message_id: str
) -> None:
    """Serialise, per provider id, parking a status with recording that id (and draining)."""
    conn.execute(
        "SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))",
        (f"{tenant_id}:{channel}:{provider_message_id}",),
    )


def inbound_provider_id(conn: Connection[object], message_id: int) -> tuple[int, str] | None:
    """(tenant id, provider message id) of an inbound message."""
    cur = conn.cursor(row_factory=tuple_row)
    return cur.execute(
        "SELECT tenant_id, provider_message_id FROM messages WHERE id = %s AND direction = 'in'",
        (message_id,),
    ).fetchone()
