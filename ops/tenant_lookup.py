"""The tenant a command names by slug, or a clear error."""

import click
from psycopg import Connection

from db.tenants import Tenant, tenant_by_slug


def known_tenant(conn: Connection, slug: str) -> Tenant:
    tenant = tenant_by_slug(conn, slug)
    if tenant is None:
        raise click.ClickException(f"no tenant {slug!r}")
    return tenant
