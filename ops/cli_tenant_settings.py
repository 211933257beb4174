"""`recado tenants settings`: how a tenant's assistant behaves (domain.tenant_settings)."""

import json
import os

import click
from psycopg import Connection

from db.tenant_settings import set_setting, unset_setting
from db.tenants import Tenant
from domain.settings import Settings
from domain.tenant_settings import (
    SETTINGS,
    describe_settings,
    parse_tenant_settings,
    validate_setting,
)
from ops.database import cli_connection
from ops.output import echo, format_table
from ops.tenant_lookup import known_tenant


def _keys_help() -> str:
    return "\n\n".join(f"{key}: {spec.meaning}." for key, spec in SETTINGS.items())


@click.group()
def settings() -> None:
    """Assistant settings of a tenant."""


@settings.command()
@click.argument("slug")
def show(slug: str) -> None:
    """Every setting: its value, or the default that applies while it is not set."""
    with cli_connection() as conn:
        tenant = known_tenant(conn, slug)
    rows = [("KEY", "FROM", "VALUE")]
    rows.extend(
        (view.key, "tenant" if view.stored else "default", view.value)
        for view in describe_settings(tenant.settings)
    )
    echo(format_table(rows))
    try:
        parse_tenant_settings(tenant.settings)
    except ValueError as invalid:
        # Stored by other means than `set`: the steps refuse it too, so say which key.
        echo(f"invalid: {invalid} (set or unset it to fix)", err=True)


@settings.command(
    "set",
    help=f"Set KEY to VALUE for the tenant.\n\n{_keys_help()}",
    # A negative number is a value to refuse with a reason, not an unknown option.
    context_settings={"ignore_unknown_options": True},
)
@click.argument("slug")
@click.argument("key")
@click.argument("value")
def set_(slug: str, key: str, value: str) -> None:
    try:
        typed = validate_setting(key, value)
    except ValueError as error:
        raise click.ClickException(str(error)) from error
    with cli_connection() as conn:
        tenant = known_tenant(conn, slug)
        set_setting(conn, tenant.id, key, typed)
        moved = _reschedule(conn, tenant, key)
        conn.commit()
    echo(f"{slug}: {key} = {json.dumps(typed, ensure_ascii=False)}")
    _say_rescheduled(*moved)


@settings.command()
@click.argument("slug")
@click.argument("key")
def unset(slug: str, key: str) -> None:
    """Remove KEY: its default applies again."""
    with cli_connection() as conn:
        tenant = known_tenant(conn, slug)
        if key not in SETTINGS and key not in tenant.settings:
            raise click.ClickException(f"unknown setting {key!r} (known: {', '.join(SETTINGS)})")
        removed = unset_setting(conn, tenant.id, key)
        moved = _reschedule(conn, tenant, key)
        conn.commit()
    echo(f"{slug}: {key} unset" if removed else f"{slug}: {key} was not set")
    _say_rescheduled(*moved)


def _reschedule(conn: Connection[object], tenant: Tenant, key: str) -> tuple[int, int]:
    """Work already scheduled under the old value waits no longer than the new one allows:
    (replies brought forward, sends paced again)."""
    # Imported here: importing actors installs the broker, which needs DATABASE_URL resolved.
    from actors.settings_change import reschedule_after_change

    # The pacer the workers use (Redis when REDIS_URL is set), from this command's settings.
    settings = Settings.from_env({**os.environ, "DATABASE_URL": conn.info.dsn})
    return reschedule_after_change(conn, tenant.id, [key], settings.redis_url)


def _say_rescheduled(replies: int, sends: int) -> None:
    if replies:
        echo(f"{replies} scheduled replies moved up to the new quiet window")
    if sends:
        echo(f"{sends} waiting sends paced again under the new rates")
