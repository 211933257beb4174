"""Send pacing in PostgreSQL, for deployments without Redis (see domain/pacing.py)."""

import random
from collections.abc import Sequence
from datetime import timedelta

from psycopg import Connection
from psycopg.rows import tuple_row

from domain.pacing import Rate, take

_PURGE_CHANCE = 0.001


def take_slots(conn: Connection[object], slots: Sequence[tuple[str, Rate]]) -> timedelta | None:
    """All or nothing: None when every key has a slot now (all are taken); else the longest
    wait, and no key spends anything (a send held back by one pace costs no other)."""
    cur = conn.cursor(row_factory=tuple_row)
    ordered = sorted(slots)  # keys in one order (db/locks.py, PACING)
    keys = [key for key, _ in ordered]
    cur.execute(
        "INSERT INTO send_pacing (key, tat)"
        " SELECT k, clock_timestamp() FROM unnest(%s::text[]) AS k ON CONFLICT DO NOTHING",
        (keys,),
    )
    # The database's clock, so every worker process measures against the same time.
    rows = cur.execute(
        "SELECT key, tat, clock_timestamp() FROM send_pacing WHERE key = ANY(%s)"
        " ORDER BY key FOR UPDATE",
        (keys,),
    ).fetchall()
    tats = {key: (tat, now) for key, tat, now in rows}
    waits, new_tats = [], []
    for key, rate in ordered:
        tat, now = tats[key]
        wait, new_tat = take(tat, now, rate)
        if wait is not None:
            waits.append(wait)
        new_tats.append(new_tat)
    if waits:
        return max(waits)
    if random.random() < _PURGE_CHANCE:
        # A TAT in the past counts as no row at all: rows idle for an hour can go. About once
        # per thousand sends keeps the table near the number of recently paced recipients.
        cur.execute("DELETE FROM send_pacing WHERE tat < clock_timestamp() - interval '1 hour'")
    cur.execute(
        "UPDATE send_pacing SET tat = new.tat"
        " FROM unnest(%s::text[], %s::timestamptz[]) AS new(key, tat)"
        " WHERE send_pacing.key = new.key",
        (keys, new_tats),
    )
    return None


def forget_slots(conn: Connection[object], prefix: str, keys: Sequence[str]) -> None:
    """Drop the times of `keys` and of every key starting with `prefix`: their next send is
    paced from scratch (after the rates changed)."""
    conn.execute(
        "DELETE FROM send_pacing WHERE key = ANY(%s) OR starts_with(key, %s)", (list(keys), prefix)
    )
