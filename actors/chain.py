"""Step chaining: a step's successor is written in the same transaction as the step's effects."""

import json
from collections.abc import Iterable

import dramatiq
from dramatiq.common import current_millis, dq_name
from psycopg import Connection

from db.queue import enqueue as insert_messages


def encode(message: dramatiq.Message) -> dict:
    """The stored form of a Dramatiq message, as dramatiq-pg writes it."""
    return json.loads(message.encode())


def enqueue(
    conn: Connection[object], messages: Iterable[dramatiq.Message], *, delay_ms: int | None = None
) -> None:
    """Queue messages on `conn`'s transaction: they exist if and only if it commits."""
    if delay_ms:
        eta = current_millis() + delay_ms
        messages = [
            m.copy(queue_name=dq_name(m.queue_name), options={**m.options, "eta": eta})
            for m in messages
        ]
    insert_messages(conn, [encode(m) for m in messages])
