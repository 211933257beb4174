"""The outbox: outbound message rows as the send step reads and updates them."""

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from psycopg import Connection
from psycopg.rows import class_row, tuple_row
from psycopg.types.json import Jsonb

from domain.models import ConversationStatus, DeliveryStatus, ProviderError


@dataclass(frozen=True)
class OutboxMessage:
    id: int
    tenant_id: int
    conversation_id: int
    channel: str
    type: str
    text: str | None
    details: dict[str, Any]
    reply_to: str | None
    delivery_status: DeliveryStatus
    provider_message_id: str | None
    send_attempts: int
    send_started_at: datetime | None
    send_uncertain: bool
    recipient: str
    last_inbound_at: datetime | None
    conversation_status: ConversationStatus

    def __post_init__(self) -> None:
        # The columns' text becomes their enums here, once for every reader.
        object.__setattr__(self, "delivery_status", DeliveryStatus(self.delivery_status))
        object.__setattr__(
            self, "conversation_status", ConversationStatus(self.conversation_status)
        )


def lock_for_send(
    conn: Connection[object], tenant_id: int, message_id: int
) -> OutboxMessage | None:
    """The outbound row with what sending needs, locked against a concurrent attempt."""
    cur = conn.cursor(row_factory=class_row(OutboxMessage))
    return cur.execute(
        """
        SELECT m.id, m.tenant_id, m.conversation_id, m.channel, m.type, m.text, m.details,
               m.reply_to, m.delivery_status, m.provider_message_id, m.send_attempts,
               m.send_started_at, m.send_uncertain, c.channel_user_id AS recipient,
               v.last_inbound_at, v.status AS conversation_status
        FROM messages m
        JOIN conversations v ON v.id = m.conversation_id AND v.tenant_id = m.tenant_id
        JOIN contacts c ON c.id = v.contact_id AND c.tenant_id = m.tenant_id
        WHERE m.tenant_id = %s AND m.id = %s AND m.direction = 'out'
        -- The conversation's status is read under its row lock: a hand-off committing now
        -- waits for this claim, or this claim sees the hand-off. Not a share lock: the window
        -- check may update the row, and two sharers upgrading would deadlock.
        FOR UPDATE OF m FOR NO KEY UPDATE OF v
        """,
        (tenant_id, message_id),
    ).fetchone()


@dataclass(frozen=True)
class SendTarget:
    tenant_id: int
    channel: str
    # Read before the row is locked, for the lock order (db/locks.py): the provider id a stored
    # status webhook gives the message while its last attempt's outcome is unknown.
    stored_status_id: str | None


def send_target(conn: Connection[object], message_id: int, callback_data: str) -> SendTarget | None:
    """Whose outbound message this is (a job carries only its id), and any evidence it went."""
    cur = conn.cursor(row_factory=class_row(SendTarget))
    return cur.execute(
        """
        SELECT m.tenant_id, m.channel,
               CASE WHEN m.provider_message_id IS NULL AND m.send_uncertain THEN
                   (SELECT e.payload -> 'status' ->> 'id' FROM inbound_events e
                    WHERE e.tenant_id = m.tenant_id AND e.kind = 'status'
                      AND e.payload -> 'status' ->> 'biz_opaque_callback_data' = %s
                    LIMIT 1)
               END AS stored_status_id
        FROM messages m WHERE m.id = %s AND m.direction = 'out'
        """,
        (callback_data, message_id),
    ).fetchone()


def claim(conn: Connection[object], message_id: int, *, resend: bool) -> None:
    """`sending`, and uncertain until the provider's answer is recorded."""
    conn.execute(
        """
        UPDATE messages SET delivery_status = 'sending', send_attempts = send_attempts + 1,
            send_started_at = now(), send_uncertain = true, resends = resends + %s,
            updated_at = now()
        WHERE id = %s
        """,
        (1 if resend else 0, message_id),
    )


def record_rejection(
    conn: Connection[object], message_id: int, error: ProviderError | None
) -> None:
    """The provider answered no: the attempt certainly did not send anything."""
    conn.execute(
        "UPDATE messages SET send_uncertain = false, updated_at = now(),"
        " error = COALESCE(%s, error) WHERE id = %s",
        (Jsonb([error.__dict__]) if error else None, message_id),
    )


def clear_uncertainty(conn: Connection[object], message_id: int) -> None:
    """The provider's answer is known now (its id is recorded)."""
    conn.execute(
        "UPDATE messages SET send_uncertain = false, updated_at = now() WHERE id = %s",
        (message_id,),
    )


def convert_to_template(
    conn: Connection[object], message_id: int, template: dict[str, Any]
) -> None:
    """Outside the 24-hour window: the free-form text becomes the re-engagement template."""
    conn.execute(
        """
        UPDATE messages SET type = 'template',
            details = details || jsonb_build_object('template', %s::jsonb,
                                                    'converted_from', type),
            updated_at = now()
        WHERE id = %s
        """,
        (Jsonb(template), message_id),
    )


def flag_for_human(conn: Connection[object], conversation_id: int, reason: str) -> None:
    conn.execute(
        "UPDATE conversations SET status = 'handoff', needs_human_reason = %s, updated_at = now()"
        " WHERE id = %s AND status <> 'closed'",
        (reason, conversation_id),
    )


def pending_of_tenant(conn: Connection[object], tenant_id: int) -> list[int]:
    """Outbound messages not yet accepted by the provider, oldest first."""
    cur = conn.cursor(row_factory=tuple_row)
    return [
        row[0]
        for row in cur.execute(
            "SELECT id FROM messages WHERE tenant_id = %s AND delivery_status IN"
            " ('pending', 'sending') ORDER BY id",
            (tenant_id,),
        ).fetchall()
    ]


def pause_tenant(conn: Connection[object], tenant_id: int, reason: str) -> int:
    """Stop the tenant's sending; returns how many of its messages are still unsent."""
    conn.execute(
        "UPDATE tenants SET sending_paused_at = now(), sending_paused_reason = %s WHERE id = %s",
        (reason, tenant_id),
    )
    return len(pending_of_tenant(conn, tenant_id))


def resume_tenant(conn: Connection[object], tenant_id: int) -> None:
    conn.execute(
        "UPDATE tenants SET sending_paused_at = NULL, sending_paused_reason = NULL WHERE id = %s",
        (tenant_id,),
    )
