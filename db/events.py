"""Inbound webhook events and quarantined bodies."""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from psycopg import Connection
from psycopg.rows import class_row, tuple_row
from psycopg.types.json import Jsonb

from domain.models import EnvelopeEvent


@dataclass(frozen=True)
class StoredEvent:
    id: int
    tenant_id: int
    channel: str
    kind: str
    provider_event_id: str
    payload: dict[str, Any]
    processed_at: datetime | None
    received_at: datetime
    envelope_position: int


@dataclass(frozen=True)
class NewEvent:
    id: int
    kind: str


def insert_new_events(
    conn: Connection[object], tenant_id: int, channel: str, events: Sequence[EnvelopeEvent]
) -> list[NewEvent]:
    """Insert the events this tenant has not sent before; returns only those, so redeliveries
    enqueue nothing. Another tenant's event with the same id is no duplicate."""
    if not events:
        return []
    cur = conn.cursor(row_factory=class_row(NewEvent))
    cur.execute(
        """
        INSERT INTO inbound_events (tenant_id, channel, kind, provider_event_id,
                                    envelope_position, payload)
        SELECT %s, %s, e->>'kind', e->>'provider_event_id', (e->>'position')::integer, e->'item'
        FROM jsonb_array_elements(%s::jsonb) WITH ORDINALITY AS t(e, n)
        -- One canonical order for every delivery: two deliveries of one envelope listing its
        -- items differently then wait on the same first key instead of deadlocking.
        ORDER BY e->>'provider_event_id'
        ON CONFLICT (tenant_id, channel, provider_event_id) DO NOTHING
        RETURNING id, kind
        """,
        (
            tenant_id,
            channel,
            Jsonb(
                [
                    {
                        "kind": e.kind.value,
                        "provider_event_id": e.provider_event_id,
                        "position": e.position,
                        "item": e.item,
                    }
                    for e in events
                ]
            ),
        ),
    )
    return cur.fetchall()


def event_by_id(conn: Connection[object], event_id: int) -> StoredEvent | None:
    cur = conn.cursor(row_factory=class_row(StoredEvent))
    return cur.execute(
        "SELECT id, tenant_id, channel, kind, provider_event_id, payload, processed_at,"
        " received_at, envelope_position FROM inbound_events WHERE id = %s FOR UPDATE",
        (event_id,),
    ).fetchone()


def mark_processed(conn: Connection[object], event_id: int, outcome: str) -> None:
    conn.execute(
        "UPDATE inbound_events SET processed_at = now(), outcome = %s"
        " WHERE id = %s AND processed_at IS NULL",
        (outcome, event_id),
    )


def quarantine_body(
    conn: Connection[object],
    *,
    tenant_id: int,
    channel: str,
    reason: str,
    content_type: str | None,
    body: bytes,
) -> int:
    cur = conn.cursor(row_factory=tuple_row)
    row = cur.execute(
        "INSERT INTO quarantine (tenant_id, channel, reason, content_type, body)"
        " VALUES (%s, %s, %s, %s, %s) RETURNING id",
        (tenant_id, channel, reason, content_type, body),
    ).fetchone()
    assert row is not None
    event_id: int = row[0]
    return event_id


@dataclass(frozen=True)
class QuarantinedBody:
    id: int
    tenant_id: int
    channel: str
    reason: str
    content_type: str | None
    body: bytes
    received_at: datetime
    replayed_at: datetime | None


_QUARANTINE = "id, tenant_id, channel, reason, content_type, body, received_at, replayed_at"


def quarantined(
    conn: Connection[object], *, include_replayed: bool, limit: int
) -> list[QuarantinedBody]:
    cur = conn.cursor(row_factory=class_row(QuarantinedBody))
    return cur.execute(
        f"SELECT {_QUARANTINE} FROM quarantine"
        " WHERE %s OR replayed_at IS NULL ORDER BY received_at DESC, id DESC LIMIT %s",
        (include_replayed, limit),
    ).fetchall()


def quarantined_body(conn: Connection[object], quarantine_id: int) -> QuarantinedBody | None:
    """One quarantined body, locked so two replays of it cannot interleave."""
    cur = conn.cursor(row_factory=class_row(QuarantinedBody))
    return cur.execute(
        f"SELECT {_QUARANTINE} FROM quarantine WHERE id = %s FOR UPDATE", (quarantine_id,)
    ).fetchone()


def mark_replayed(conn: Connection[object], quarantine_id: int) -> None:
    conn.execute("UPDATE quarantine SET replayed_at = now() WHERE id = %s", (quarantine_id,))
