"""Operator changes to a tenant's assistant: its settings (`tenants.settings` jsonb), one key at
a time, and switching the assistant off (no profile)."""

from psycopg import Connection
from psycopg.rows import tuple_row
from psycopg.types.json import Jsonb


def set_setting(conn: Connection[object], tenant_id: int, key: str, value: object) -> None:
    """Set one key, leaving the others as they are."""
    conn.execute(
        "UPDATE tenants SET settings = settings || %s WHERE id = %s",
        (Jsonb({key: value}), tenant_id),
    )


def unset_setting(conn: Connection[object], tenant_id: int, key: str) -> bool:
    """Remove one key; False when the tenant did not have it."""
    cur = conn.cursor(row_factory=tuple_row)
    row = cur.execute(
        "UPDATE tenants SET settings = settings - %s WHERE id = %s AND settings ? %s RETURNING id",
        (key, tenant_id, key),
    ).fetchone()
    return row is not None
