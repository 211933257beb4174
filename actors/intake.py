"""Turning a verified webhook body into stored events and their first jobs, in the caller's
transaction. Used by the webhook and by the replay of quarantined bodies."""

from dataclasses import dataclass
from datetime import datetime

from psycopg import Connection

from actors.chain import enqueue
from actors.ingest import apply_status, ingest_event, record_provider_error
from db import events
from db.errors import UnstorableValue, translated
from db.events import NewEvent
from db.tenants import Tenant
from domain.channels import whatsapp
from domain.errors import UnparseableEnvelope
from domain.models import Channel, EventKind

_FIRST_STEP = {
    EventKind.MESSAGE: ingest_event,
    EventKind.STATUS: apply_status,
    EventKind.ERROR: record_provider_error,
}


@dataclass(frozen=True)
class Accepted:
    new: list[NewEvent]
    # Why items of the body were left out (ids too long to store): quarantine the body for them.
    refused: list[str]


def accept_whatsapp_envelope(
    conn: Connection[object], tenant: Tenant, body: bytes, received_at: datetime
) -> Accepted:
    """Store the events not seen before, each with its first job; returns them and the refusals.

    Raises UnparseableEnvelope for a body to quarantine whole, including one signed with this
    tenant's secret that speaks for another phone number, and one PostgreSQL cannot store (e.g. a
    \u0000 jsonb refuses); the transaction may then have failed: roll it back before writing
    anything else.
    """
    # The same provider error reported again within the hour is one event; the next hour, a new one.
    found = whatsapp.split_envelope(body, error_period=received_at.strftime("%Y-%m-%dT%H"))
    foreign = {e.phone_number_id for e in found} - {tenant.wa_phone_number_id}
    if foreign:
        raise UnparseableEnvelope(f"phone_number_id {sorted(foreign)[0]} is not this tenant's")
    storable, refused = whatsapp.storable_events(found)
    try:
        with translated():
            new = events.insert_new_events(conn, tenant.id, Channel.WHATSAPP, storable)
    except UnstorableValue as error:
        # The reason names the kind of refusal, never the content.
        raise UnparseableEnvelope(f"not storable: {error}") from error
    enqueue(conn, [_FIRST_STEP[EventKind(event.kind)].message(event.id) for event in new])
    return Accepted(new, refused)


@dataclass(frozen=True)
class Replay:
    # replayed | already_replayed | unsupported | unparseable | refused
    status: str
    # unparseable, refused: why; already_replayed: when.
    detail: str | None = None
    new_events: int = 0


def replay_quarantined(
    conn: Connection[object], body: events.QuarantinedBody, tenant: Tenant | None
) -> Replay:
    """Parse a quarantined body again (after a parser or configuration fix) and store its events
    once; it leaves quarantine only when all of it was stored. Anything but `replayed` and
    `already_replayed` may leave the transaction failed: the caller rolls it back."""
    if body.replayed_at is not None:
        return Replay("already_replayed", body.replayed_at.isoformat())
    if tenant is None or body.channel != Channel.WHATSAPP:
        return Replay("unsupported", body.channel)
    try:
        accepted = accept_whatsapp_envelope(conn, tenant, bytes(body.body), body.received_at)
    except UnparseableEnvelope as error:
        return Replay("unparseable", error.reason)
    if accepted.refused:
        # The items that fit were stored when the body first came; it stays in quarantine.
        return Replay("refused", accepted.refused[0])
    events.mark_replayed(conn, body.id)
    return Replay("replayed", new_events=len(accepted.new))
