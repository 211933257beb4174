"""Live events of the admin pages (migration 0014): rows written by triggers, announced by NOTIFY.

The notification carries '<tenant_id>:<event id>'; the listener (webapp/live/hub.py) reads the
rows here. Synchronous functions serve catch-up from the web app's pool; the async ones the one
listening connection of each web process.
"""

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from psycopg import AsyncConnection, Connection
from psycopg.rows import class_row, tuple_row

CHANNEL = "recado_live"
RETENTION = timedelta(hours=1)


@dataclass(frozen=True)
class LiveEvent:
    id: int
    tenant_id: int
    kind: str
    data: dict[str, Any]


_COLUMNS = "id, tenant_id, kind, data"


def parse_notification(payload: str) -> tuple[int, int] | None:
    """(tenant_id, event id) of a notification's payload; None for anything else."""
    tenant, _, event = payload.partition(":")
    if not (tenant.isdigit() and event.isdigit()):
        return None
    return int(tenant), int(event)


def events_after(
    conn: Connection[object], tenant_id: int, after_id: int, limit: int
) -> list[LiveEvent]:
    """The tenant's events with an id above `after_id`, oldest first, at most `limit`."""
    cur = conn.cursor(row_factory=class_row(LiveEvent))
    return cur.execute(
        f"SELECT {_COLUMNS} FROM live_events WHERE tenant_id = %s AND id > %s ORDER BY id LIMIT %s",
        (tenant_id, after_id, limit),
    ).fetchall()


def latest_id(conn: Connection[object]) -> int:
    row = conn.cursor(row_factory=tuple_row).execute("SELECT max(id) FROM live_events").fetchone()
    return 0 if row is None or row[0] is None else int(row[0])


def purge_live_events(conn: Connection[object], older_than: timedelta = RETENTION) -> int:
    """Delete events older than `older_than`: no browser is that far behind (it reloads)."""
    return conn.execute("DELETE FROM live_events WHERE at < now() - %s", (older_than,)).rowcount


async def listen(conn: AsyncConnection[Any]) -> None:
    await conn.execute(f"LISTEN {CHANNEL}")


async def latest_id_async(conn: AsyncConnection[Any]) -> int:
    cur = conn.cursor(row_factory=tuple_row)
    await cur.execute("SELECT max(id) FROM live_events")
    row = await cur.fetchone()
    return 0 if row is None or row[0] is None else int(row[0])


async def events_by_ids(conn: AsyncConnection[Any], ids: list[int]) -> list[LiveEvent]:
    cur = conn.cursor(row_factory=class_row(LiveEvent))
    await cur.execute(f"SELECT {_COLUMNS} FROM live_events WHERE id = ANY(%s) ORDER BY id", (ids,))
    return await cur.fetchall()


async def all_events_after(
    conn: AsyncConnection[Any], after_id: int, limit: int
) -> list[LiveEvent]:
    """Every tenant's events above `after_id`, oldest first: the listener's own catch-up."""
    cur = conn.cursor(row_factory=class_row(LiveEvent))
    await cur.execute(
        f"SELECT {_COLUMNS} FROM live_events WHERE id > %s ORDER BY id LIMIT %s", (after_id, limit)
    )
    return await cur.fetchall()
