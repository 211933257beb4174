"""Transactional enqueue into dramatiq-pg's queue table, on the caller's connection.

The rows and notifications match what dramatiq-pg's own enqueue writes, so its consumers pick
them up; because they ride the caller's transaction, a rollback leaves neither row nor NOTIFY.
"""

from collections.abc import Sequence
from typing import Any

from psycopg import Connection
from psycopg.types.json import Jsonb

# dramatiq-pg's rule: notifications under 8000 bytes carry the whole message, larger ones its id.
_ENQUEUE = """
WITH enqueued AS (
    INSERT INTO dramatiq.queue (queue_name, message_id, "state", mtime, message)
    SELECT m->>'queue_name', (m->>'message_id')::uuid, 'queued', now(), m
    FROM jsonb_array_elements(%s::jsonb) AS m
    RETURNING queue_name, message_id, message
)
SELECT pg_notify(
    'dramatiq.' || queue_name || '.enqueue',
    CASE WHEN octet_length(message::text) >= 8000
        THEN jsonb_build_object('message_id', message_id::text)::text
        ELSE message::text
    END
)
FROM enqueued
"""


def enqueue(conn: Connection[object], messages: Sequence[dict[str, Any]]) -> None:
    """Insert encoded Dramatiq messages (`json.loads(message.encode())`) in one statement."""
    if messages:
        conn.execute(_ENQUEUE, (Jsonb(list(messages)),))
