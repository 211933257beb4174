"""Delivery bookkeeping shared by the status step and the send step."""

import logging
from collections.abc import Sequence
from datetime import datetime
from uuid import uuid4

import sentry_sdk
from psycopg import Connection

from actors.middleware import annotate
from db import dead_letters, messages
from db.dead_letters import Failure
from db.events import StoredEvent
from db.locks import Locks
from db.messages import OutboundMessage
from domain.models import ProviderError, StatusUpdate
from domain.outbox import parse_callback_data
from domain.statuses import DeliveryStatus, status_effect

logger = logging.getLogger(__name__)


def attach_provider_id(locks: Locks, message: OutboundMessage, provider_message_id: str) -> None:
    """Record the provider's id for our message, then apply statuses that arrived before it."""
    locks.provider_id(message.tenant_id, message.channel, provider_message_id)
    conn = locks.conn
    messages.record_provider_id(conn, message.id, provider_message_id)
    current = message.delivery_status
    parked = messages.take_parked_statuses(
        conn, message.tenant_id, message.channel, provider_message_id
    )
    for status in parked:
        errors = [ProviderError(**error) for error in status.errors]
        current = _record_status(conn, message, current, status.status, status.status_at, errors)


def apply_status_update(locks: Locks, event: StoredEvent, update: StatusUpdate) -> str:
    """Move the message forward, or park the update until its message is known."""
    conn = locks.conn
    locks.provider_id(event.tenant_id, event.channel, update.provider_message_id)
    message = locks.message_by_provider_id(
        event.tenant_id, event.channel, update.provider_message_id
    )
    if message is None:
        # Our send may not have recorded the provider id yet; the id we sent along says which.
        own_id = parse_callback_data(update.callback_data)
        if own_id is not None:
            message = locks.message(event.tenant_id, own_id)
    if message is None:
        messages.park_status(
            conn,
            tenant_id=event.tenant_id,
            channel=event.channel,
            provider_message_id=update.provider_message_id,
            status=update.status,
            at=update.at,
            errors=update.errors,
            inbound_event_id=event.id,
        )
        return "parked"
    annotate(conversation_id=message.conversation_id, message_id=message.id)
    if message.provider_message_id is None:
        attach_provider_id(locks, message, update.provider_message_id)
        message = locks.message(event.tenant_id, message.id)
        assert message is not None
    current = message.delivery_status
    settled = _record_status(conn, message, current, update.status, update.at, update.errors)
    return "stale" if settled == current else "applied"


def _record_status(
    conn: Connection[object],
    message: OutboundMessage,
    current: DeliveryStatus,
    new: DeliveryStatus,
    at: datetime,
    errors: Sequence[ProviderError],
) -> DeliveryStatus:
    """Record a provider status and its consequences; returns the message's status after it.

    domain.statuses decides; a status the message does not move to still leaves its time and
    errors on the row, so the row is the same whatever order the statuses came in.
    """
    effect = status_effect(current, new)
    if not effect.moves:
        messages.record_outranked_status(conn, message.id, new, at, errors)
        return current
    messages.set_delivery_status(conn, message.id, new, at, errors)
    if effect.reports_failure:
        report_failed_delivery(conn, message, errors)
    if effect.settles_failure:
        resolved = dead_letters.resolve_send_failures(conn, message.tenant_id, message.id)
        # The alert already sent stays in Sentry; the log says it is moot.
        logger.info(
            "message %s reported %s after failing: dead letters %s resolved",
            message.id,
            new,
            resolved,
        )
    return new


def report_failed_delivery(
    conn: Connection[object], message: OutboundMessage, errors: Sequence[ProviderError]
) -> None:
    """The provider gave up on a message it had accepted: as loud as a failed send step.

    The dead letter names the send step, so an operator finds it beside failed sends; requeueing
    it changes nothing (a failed message is never sent again) and settles the letter.
    """
    first = errors[0] if errors else ProviderError(0, "failed without details", None, None)
    letter = dead_letters.record_failure(
        conn,
        Failure(
            message_id=str(uuid4()),
            queue_name="send",
            actor="send_message",
            args=[message.id],
            kwargs={},
            attempts=1,
            exception_type="whatsapp.FailedStatus",
            exception_text=f"WhatsApp error {first.code}: {first.title}",
            traceback="reported by a status webhook; no local traceback",
            tenant_id=message.tenant_id,
            conversation_id=message.conversation_id,
            related={"message_id": message.id},
        ),
        None,
    )
    logger.error(
        "message %s failed at the provider (dead letter %s): %s %s",
        message.id,
        letter,
        first.code,
        first.title,
    )
    with sentry_sdk.new_scope() as scope:
        scope.set_tag("actor", "send_message")
        scope.set_tag("dead_letter_id", str(letter))
        scope.set_tag("tenant_id", str(message.tenant_id))
        scope.set_tag("provider_error_code", str(first.code))
        sentry_sdk.capture_message(f"WhatsApp error {first.code}: {first.title}", level="error")
