"""Conversations and messages for the inbox's tests, written by the functions ingest uses."""

import itertools
from datetime import UTC, datetime, timedelta

import psycopg

from db.conversations import live_conversation, upsert_contact
from db.events import insert_new_events
from db.messages import ProviderOrder, insert_inbound, insert_outbound, set_delivery_status
from domain.models import EnvelopeEvent, EventKind, InboundMessage, MessageType
from domain.statuses import DeliveryStatus

_ids = itertools.count(1)


def conversation(
    conn: psycopg.Connection, tenant_id: int, name: str | None, phone: str = "34600000001"
) -> int:
    """The contact's live conversation (opened when none is), as ingest opens it."""
    contact_id = upsert_contact(
        conn,
        tenant_id=tenant_id,
        channel="whatsapp",
        channel_user_id=phone,
        phone_e164=f"+{phone}",
        profile_name=name,
    )
    return live_conversation(
        conn,
        tenant_id=tenant_id,
        contact_id=contact_id,
        channel="whatsapp",
        inbound_at=datetime.now(UTC),
    ).id


def inbound(
    conn: psycopg.Connection,
    tenant_id: int,
    conversation_id: int,
    text: str,
    minutes_ago: float = 0,
) -> int:
    """A customer's message, written `minutes_ago`."""
    at = datetime.now(UTC) - timedelta(minutes=minutes_ago)
    number = next(_ids)
    provider_id = f"wamid.inbox-{tenant_id}-{number}"
    [event] = insert_new_events(
        conn,
        tenant_id,
        "whatsapp",
        [EnvelopeEvent(EventKind.MESSAGE, provider_id, "1", {"id": provider_id})],
    )
    message = InboundMessage(
        provider_message_id=provider_id,
        wa_id=None,
        user_id=None,
        phone_e164=None,
        profile_name=None,
        type=MessageType.TEXT,
        text=text,
        media=None,
        reply_to=None,
        sent_at=at,
        details={},
    )
    message_id = insert_inbound(
        conn,
        tenant_id=tenant_id,
        conversation_id=conversation_id,
        channel="whatsapp",
        inbound_event_id=event.id,
        message=message,
        order=ProviderOrder(ordered_at=at, received_at=at, envelope_position=0),
    )
    assert message_id is not None
    return message_id


def outbound(
    conn: psycopg.Connection,
    tenant_id: int,
    conversation_id: int,
    text: str,
    status: DeliveryStatus | None = None,
) -> int:
    """Our reply, written now; moved on to `status` when given (sent, failed...)."""
    message_id = insert_outbound(
        conn,
        tenant_id=tenant_id,
        conversation_id=conversation_id,
        channel="whatsapp",
        type="text",
        text=text,
    )
    if status is not None:
        set_delivery_status(conn, message_id, status, datetime.now(UTC))
    return message_id
