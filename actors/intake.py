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
