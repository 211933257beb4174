"""Steps fed by the webhooks: inbound messages, delivery statuses and provider errors."""

import logging

import sentry_sdk

from actors.chain import enqueue
from actors.delivery import apply_status_update
from actors.middleware import annotate
from actors.plan import schedule
from actors.runtime import installed
from actors.send import mark_read
from actors.steps import step
from db import conversations, events, messages
from db.events import StoredEvent
from db.locks import Locks
from db.planning import answerable
from db.tenants import tenant_by_id
from domain.channels import whatsapp
from domain.errors import PermanentError, UnknownMessageShape
from domain.models import ConversationStatus
from domain.phones import mask_phone
from domain.window import inbound_at

logger = logging.getLogger(__name__)

# Webhook-fed steps only touch our own database: back off from 0.5 s up to 5 min, for about
# an hour in all, which outlasts a database restart or failover.
_RETRY = {"max_retries": 20, "min_backoff": 500, "max_backoff": 300_000, "time_limit": 30_000}
_PERMANENT = (PermanentError, UnknownMessageShape)


def _load(locks: Locks, event_id: int) -> StoredEvent | None:
    """The event, locked for this run; None when an earlier run already finished it."""
    event = locks.event(event_id)
    if event is None:
        raise PermanentError(f"inbound event {event_id} does not exist")
    annotate(tenant_id=event.tenant_id, inbound_event_id=event.id)
    return None if event.processed_at is not None else event


@step(queue_name="ingest", throws=_PERMANENT, **_RETRY)
def ingest_event(event_id: int) -> None:
    """An inbound message becomes contact, lead, conversation and message rows, once."""
    with installed().pool().connection() as conn:
        event = _load(Locks(conn), event_id)
        if event is None:
            return
        inbound = whatsapp.parse_message(event.payload)
        sender = inbound.wa_id or inbound.user_id
        if sender is None:
            raise UnknownMessageShape(f"message {inbound.provider_message_id} has no sender id")
        contact_id = conversations.upsert_contact(
            conn,
            tenant_id=event.tenant_id,
            channel=event.channel,
            channel_user_id=sender,
            phone_e164=inbound.phone_e164,
            profile_name=inbound.profile_name,
        )
        conversations.ensure_lead(
            conn,
            tenant_id=event.tenant_id,
            contact_id=contact_id,
            name=inbound.profile_name,
            phone_e164=inbound.phone_e164,
        )
        # The window and the conversation's order go by this; the raw timestamp is kept too.
        written_at = inbound_at(inbound.sent_at, event.received_at)
        conversation = conversations.live_conversation(
            conn,
            tenant_id=event.tenant_id,
            contact_id=contact_id,
            channel=event.channel,
            inbound_at=written_at,
        )
        annotate(conversation_id=conversation.id)
        message_id = messages.insert_inbound(
            conn,
            tenant_id=event.tenant_id,
            conversation_id=conversation.id,
            channel=event.channel,
            inbound_event_id=event.id,
            message=inbound,
            order=messages.ProviderOrder(written_at, event.received_at, event.envelope_position),
        )
        # The run trace of the message finds this step by it.
        annotate(message_id=message_id)
        events.mark_processed(conn, event.id, "stored" if message_id else "duplicate")
        tenant = tenant_by_id(conn, event.tenant_id)
        assert tenant is not None
        settings = tenant.typed_settings()
        if message_id is not None and settings.read_receipts:
            enqueue(conn, [mark_read.message(message_id)])
        if (
            message_id is not None
            and tenant.profile is not None
            and conversation.status == ConversationStatus.OPEN
            and answerable(inbound.type)
        ):
            schedule(conn, settings, conversation.id, message_id)
        logger.info(
            "stored %s message %s from %s in conversation %s",
            inbound.type,
            message_id,
            mask_phone(inbound.phone_e164),
            conversation.id,
        )


@step(queue_name="ingest", throws=_PERMANENT, **_RETRY)
def apply_status(event_id: int) -> None:
    """A delivery status moves its outbound message forward, or waits for that message."""
    with installed().pool().connection() as conn:
        locks = Locks(conn)
        event = _load(locks, event_id)
        if event is None:
            return
        update = whatsapp.parse_status(event.payload)
        outcome = apply_status_update(locks, event, update)
        events.mark_processed(conn, event.id, outcome)


@step(queue_name="ingest", throws=_PERMANENT, **_RETRY)
def record_provider_error(event_id: int) -> None:
    """A provider error not tied to one message (e.g. a rate limit): surfaced, not dropped."""
    with installed().pool().connection() as conn:
        event = _load(Locks(conn), event_id)
        if event is None:
            return
        error = whatsapp.parse_error(event.payload)
        events.mark_processed(conn, event.id, f"provider_error:{error.code}")
    logger.warning("provider error %s for tenant %s: %s", error.code, event.tenant_id, error.title)
    with sentry_sdk.new_scope() as scope:
        scope.set_tag("tenant_id", str(event.tenant_id))
        scope.set_tag("provider_error_code", str(error.code))
        sentry_sdk.capture_message(f"WhatsApp error {error.code}: {error.title}", level="warning")
