"""A tenant's assistant configuration: its business profile and its assistant settings.

The profile is stored as given (JSON); callers validate it with domain.profile.parse_profile
before saving, so what is stored always parses.
"""

from typing import Any

from psycopg import Connection
from psycopg.rows import tuple_row
from psycopg.types.json import Jsonb


def set_profile(conn: Connection, tenant_id: int, profile: dict[str, Any]) -> None:
    """Save the profile. Turning the assistant on starts it at each conversation's next message:
    what customers wrote before was for people to answer."""
    cur = conn.cursor(row_factory=tuple_row)
    row = cur.execute(
        "UPDATE tenants t SET profile = %s FROM tenants old"
        " WHERE t.id = %s AND old.id = t.id RETURNING old.profile IS NULL",
        (Jsonb(profile), tenant_id),
    ).fetchone()
    if row is None:
        raise LookupError(f"no tenant {tenant_id}")
    if row[0]:
        conn.execute(
            """
            UPDATE conversations v SET replied_through = GREATEST(v.replied_through, COALESCE(
                (SELECT max(m.id) FROM messages m
                 WHERE m.conversation_id = v.id AND m.tenant_id = v.tenant_id
                   AND m.direction = 'in'), 0))
            WHERE v.tenant_id = %s AND v.status <> 'closed'
            """,
            (tenant_id,),
        )


def profile_of(conn: Connection, tenant_id: int) -> dict[str, Any] | None:
    """The stored profile; None when the tenant has none (or does not exist)."""
    cur = conn.cursor(row_factory=tuple_row)
    row = cur.execute("SELECT profile FROM tenants WHERE id = %s", (tenant_id,)).fetchone()
    return row[0] if row is not None else None


def set_setting_default(conn: Connection, tenant_id: int, key: str, value: Any) -> None:
    """Set `tenants.settings[key]` unless the tenant already has that setting."""
    conn.execute(
        """
        UPDATE tenants SET settings = settings || jsonb_build_object(%s::text, %s::jsonb)
        WHERE id = %s AND NOT settings ? %s
        """,
        (key, Jsonb(value), tenant_id, key),
    )


def clear_profile(conn: Connection, tenant_id: int) -> bool:
    """No profile, no assistant: inbound messages wait for a person. False when there was none."""
    cur = conn.cursor(row_factory=tuple_row)
    row = cur.execute(
        "UPDATE tenants SET profile = NULL WHERE id = %s AND profile IS NOT NULL RETURNING id",
        (tenant_id,),
    ).fetchone()
    return row is not None
