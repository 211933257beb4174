"""Conversations with messages, replies, leads and notes, written as the pipeline writes them."""

from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from db import conversations

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def make_conversation(
    db: psycopg.Connection,
    tenant_id: int,
    *,
    name: str | None = "Ana Pérez",
    wa_id: str = "5215512345678",
    status: str = "open",
) -> int:
    contact = conversations.upsert_contact(
        db,
        tenant_id=tenant_id,
        channel="whatsapp",
        channel_user_id=wa_id,
        phone_e164="+" + wa_id,
        profile_name=name,
    )
    conversations.ensure_lead(
        db, tenant_id=tenant_id, contact_id=contact, name=name, phone_e164="+" + wa_id
    )
    conversation = conversations.live_conversation(
        db, tenant_id=tenant_id, contact_id=contact, channel="whatsapp", inbound_at=T0
    ).id
    db.execute("UPDATE conversations SET status = %s WHERE id = %s", (status, conversation))
    return conversation


def add_message(
    db: psycopg.Connection,
    tenant_id: int,
    conversation_id: int,
    *,
    direction: str = "in",
    text: str | None = "hola",
    at: datetime = T0,
    type: str = "text",
    media: dict[str, Any] | None = None,
    status: str | None = None,
    error: list[dict[str, Any]] | None = None,
    sent_by: int | None = None,
    author: str | None = None,
    provider_id: str | None = None,
    reply_to: str | None = None,
    received_at: datetime | None = None,
) -> int:
    if direction == "out" and status is None:
        status = "sent"
    details = {"author": author} if author else {}
    row = db.execute(
        """
        INSERT INTO messages (tenant_id, conversation_id, channel, direction, type, text, media,
                              details, provider_message_id, reply_to, delivery_status, error,
                              sent_by_user_id, ordered_at, received_at)
        VALUES (%s, %s, 'whatsapp', %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
        RETURNING id
        """,
        (
            tenant_id,
            conversation_id,
            direction,
            type,
            text,
            Jsonb(media) if media else None,
            Jsonb(details),
            provider_id,
            reply_to,
            status,
            Jsonb(error) if error else None,
            sent_by,
            at,
            received_at or at,
        ),
    ).fetchone()
    return int(row[0])


def add_reply(
    db: psycopg.Connection,
    tenant_id: int,
    conversation_id: int,
    *,
    through: int,
    outbound: int | None,
    **columns: Any,
) -> int:
    values = {
        "outcome": "queued",
        "source": "llm",
        "intent": "booking",
        "confidence": 0.87,
        "model": "recado-sim",
        "prompt_tokens": 812,
        "completion_tokens": 64,
        "cost_usd": 0.001234,
        "latency_ms": 950,
        "cache_result": "miss",
        **columns,
    }
    names = ", ".join(values)
    row = db.execute(
        f"INSERT INTO replies (tenant_id, conversation_id, through_message_id,"
        f" outbound_message_id, {names}) VALUES (%s, %s, %s, %s, {', '.join(['%s'] * len(values))})"
        " RETURNING id",
        (tenant_id, conversation_id, through, outbound, *values.values()),
    ).fetchone()
    return int(row[0])


def many_messages(
    db: psycopg.Connection, tenant_id: int, conversation_id: int, count: int
) -> list[int]:
    """`count` alternating messages a minute apart, oldest first; some share a timestamp."""
    ids = []
    for i in range(count):
        at = T0 + timedelta(minutes=i // 2)  # pairs share ordered_at: the tie-break is tested
        direction = "in" if i % 3 else "out"
        ids.append(add_message(db, tenant_id, conversation_id, direction=direction,
                               text=f"message {i}", at=at))  # fmt: skip
    return ids
