"""Tenants: the businesses one deployment serves, with their channel credentials."""

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from psycopg import Connection
from psycopg.rows import class_row
from psycopg.types.json import Jsonb

from domain.errors import PermanentError
from domain.tenant_settings import TenantSettings, parse_tenant_settings


@dataclass(frozen=True)
class Tenant:
    id: int
    slug: str
    name: str
    wa_phone_number_id: str | None
    wa_app_secret: str | None = field(repr=False)
    wa_verify_token: str | None = field(repr=False)
    wa_access_token: str | None = field(repr=False)
    settings: dict[str, Any]
    sending_paused_at: datetime | None = None
    sending_paused_reason: str | None = None
    # The business profile's JSON (domain.profile); None: no assistant for this tenant.
    profile: dict[str, Any] | None = None

    def typed_settings(self) -> TenantSettings:
        """The settings, checked: a stored value the CLI would refuse fails the step, by key."""
        try:
            return parse_tenant_settings(self.settings)
        except ValueError as invalid:
            raise PermanentError(f"tenant {self.slug} has an invalid setting: {invalid}") from None


_COLUMNS = (
    "id, slug, name, wa_phone_number_id, wa_app_secret, wa_verify_token, wa_access_token, settings,"
    " sending_paused_at, sending_paused_reason, profile"
)


def create_tenant(
    conn: Connection[object],
    *,
    slug: str,
    name: str,
    wa_phone_number_id: str,
    wa_app_secret: str,
    wa_verify_token: str,
    wa_access_token: str,
    settings: dict[str, Any] | None = None,
) -> Tenant:
    cur = conn.cursor(row_factory=class_row(Tenant))
    cur.execute(
        f"""
        INSERT INTO tenants (slug, name, wa_phone_number_id, wa_app_secret, wa_verify_token,
                             wa_access_token, settings)
        VALUES (%s, %s, %s, %s, %s, %s, %s)
        RETURNING {_COLUMNS}
        """,
        (
            slug,
            name,
            wa_phone_number_id,
            wa_app_secret,
            wa_verify_token,
            wa_access_token,
            Jsonb(settings or {}),
        ),
    )
    row = cur.fetchone()
    assert row is not None
    return row


def tenant_by_slug(conn: Connection[object], slug: str) -> Tenant | None:
    cur = conn.cursor(row_factory=class_row(Tenant))
    return cur.execute(f"SELECT {_COLUMNS} FROM tenants WHERE slug = %s", (slug,)).fetchone()


def tenant_by_id(conn: Connection[object], tenant_id: int) -> Tenant | None:
    cur = conn.cursor(row_factory=class_row(Tenant))
    return cur.execute(f"SELECT {_COLUMNS} FROM tenants WHERE id = %s", (tenant_id,)).fetchone()


def list_tenants(conn: Connection[object]) -> list[Tenant]:
    cur = conn.cursor(row_factory=class_row(Tenant))
    return cur.execute(f"SELECT {_COLUMNS} FROM tenants ORDER BY slug").fetchall()


# The credential columns an operator may rotate.
CREDENTIALS = ("wa_access_token", "wa_app_secret", "wa_verify_token")


def update_credentials(conn: Connection[object], tenant_id: int, values: dict[str, str]) -> None:
    """Replace some of the tenant's credentials (keys from CREDENTIALS)."""
    unknown = set(values) - set(CREDENTIALS)
    if unknown or not values:
        raise ValueError(f"not credentials: {sorted(unknown)}")
    # Column names come from CREDENTIALS only, never from input.
    assignments = ", ".join(f"{column} = %s" for column in values)
    conn.execute(f"UPDATE tenants SET {assignments} WHERE id = %s", (*values.values(), tenant_id))
