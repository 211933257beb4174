"""The tenant a command names by slug, or a clear error; the time zone its times are shown in."""

from datetime import UTC, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import click
from psycopg import Connection

from db.tenants import Tenant, tenant_by_slug


def known_tenant(conn: Connection[object], slug: str) -> Tenant:
    tenant = tenant_by_slug(conn, slug)
    if tenant is None:
        raise click.ClickException(f"no tenant {slug!r}")
    return tenant


def tenant_zone(tenant: Tenant) -> tzinfo:
    """The business profile's time zone (what its people read clocks in); UTC without one."""
    name = (tenant.profile or {}).get("timezone")
    if not isinstance(name, str):
        return UTC
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return UTC
