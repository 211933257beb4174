"""A tenant's assistant configuration: its business profile and its assistant settings.

The profile is stored as given (JSON); callers validate it with domain.profile.parse_profile
before saving, so what is stored always parses. Every save and clear is also kept as a numbered
version (profile_versions), so an earlier profile can be restored.
"""

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from psycopg import Connection
from psycopg.rows import class_row, tuple_row
from psycopg.types.json import Jsonb


@dataclass(frozen=True)
class ProfileVersion:
    version: int
    # None: the profile was cleared.
    profile: dict[str, Any] | None
    saved_at: datetime
    restored_from: int | None


def set_profile(
    conn: Connection[object],
    tenant_id: int,
    profile: dict[str, Any],
    *,
    restored_from: int | None = None,
) -> int:
    """Save the profile; returns its version number. Turning the assistant on starts it at each
    conversation's next message: what customers wrote before was for people to answer."""
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
    return _add_version(conn, tenant_id, profile, restored_from)


def _add_version(
    conn: Connection[object],
    tenant_id: int,
    profile: dict[str, Any] | None,
    restored_from: int | None,
) -> int:
    """The next version; the caller has updated the tenant's row, whose lock orders the saves."""
    cur = conn.cursor(row_factory=tuple_row)
    row = cur.execute(
        """
        INSERT INTO profile_versions (tenant_id, version, profile, restored_from)
        SELECT %s, COALESCE(max(version), 0) + 1, %s, %s
        FROM profile_versions WHERE tenant_id = %s
        RETURNING version
        """,
        (tenant_id, None if profile is None else Jsonb(profile), restored_from, tenant_id),
    ).fetchone()
    assert row is not None
    version: int = row[0]
    return version


def profile_versions(conn: Connection[object], tenant_id: int) -> list[ProfileVersion]:
    """Every saved version of the tenant's profile, newest first."""
    cur = conn.cursor(row_factory=class_row(ProfileVersion))
    return cur.execute(
        "SELECT version, profile, saved_at, restored_from FROM profile_versions"
        " WHERE tenant_id = %s ORDER BY version DESC",
        (tenant_id,),
    ).fetchall()


def profile_version(
    conn: Connection[object], tenant_id: int, version: int
) -> ProfileVersion | None:
    cur = conn.cursor(row_factory=class_row(ProfileVersion))
    return cur.execute(
        "SELECT version, profile, saved_at, restored_from FROM profile_versions"
        " WHERE tenant_id = %s AND version = %s",
        (tenant_id, version),
    ).fetchone()


def profile_of(conn: Connection[object], tenant_id: int) -> dict[str, Any] | None:
    """The stored profile; None when the tenant has none (or does not exist)."""
    cur = conn.cursor(row_factory=tuple_row)
    row = cur.execute("SELECT profile FROM tenants WHERE id = %s", (tenant_id,)).fetchone()
    return row[0] if row is not None else None


def set_setting_default(conn: Connection[object], tenant_id: int, key: str, value: Any) -> None:
    """Set `tenants.settings[key]` unless the tenant already has that setting."""
    conn.execute(
        """
        UPDATE tenants SET settings = settings || jsonb_build_object(%s::text, %s::jsonb)
        WHERE id = %s AND NOT settings ? %s
        """,
        (key, Jsonb(value), tenant_id, key),
    )


def clear_profile(conn: Connection[object], tenant_id: int) -> bool:
    """No profile, no assistant: inbound messages wait for a person. False when there was none."""
    cur = conn.cursor(row_factory=tuple_row)
    row = cur.execute(
        "UPDATE tenants SET profile = NULL WHERE id = %s AND profile IS NOT NULL RETURNING id",
        (tenant_id,),
    ).fetchone()
    if row is None:
        return False
    _add_version(conn, tenant_id, None, None)
    return True
