"""`recado users`: who signs in to the admin pages, and the one-time links to choose a password.

No mail server is needed: each link is printed once, for the operator to hand over. Only its
SHA-256 is stored (db/users.py).
"""

import os
from datetime import timedelta

import click
from psycopg import Connection
from psycopg import errors as pg_errors

from db.tenants import list_tenants
from db.users import (
    User,
    create_password_link,
    create_user,
    disable_user,
    list_users,
    normalized_email,
    record_audit,
    user_by_email,
)
from domain.settings import Settings
from ops.database import cli_connection
from ops.output import echo, format_table
from ops.tenant_lookup import known_tenant

# Long enough to reach someone over a weekend; after it, `reset-password` makes a new one.
LINK_VALID_FOR = timedelta(hours=72)
TENANT_ROLES = ("agent", "owner")


@click.group()
def users() -> None:
    """People who sign in to the admin pages: agents and owners of a tenant, and operators."""


def password_link(conn: Connection[object], user: User, base_url: str) -> str:
    """A new one-time link to choose `user`'s password; the user's earlier links stop working."""
    token = create_password_link(conn, user.id, LINK_VALID_FOR)
    return f"{base_url.rstrip('/')}/set-password/{token}"


def _public_url(conn: Connection[object]) -> str:
    """RECADO_PUBLIC_URL, as the web server reads it: where the link is opened."""
    return Settings.from_env({**os.environ, "DATABASE_URL": conn.info.dsn}).public_url


def _say_link(link: str) -> None:
    hours = int(LINK_VALID_FOR.total_seconds() // 3600)
    echo(f"one-time link to choose the password (valid {hours} hours, shown only now):")
    echo(f"  {link}")


@users.command()
@click.argument("email")
@click.option("--tenant", "slug", help="The tenant an agent or owner works for.")
@click.option("--role", type=click.Choice(TENANT_ROLES), help="agent or owner of --tenant.")
@click.option("--operator", is_flag=True, help="On call for the whole deployment (no tenant).")
@click.option("--name", help="Name shown on the pages (default: the email's local part).")
def add(email: str, slug: str | None, role: str | None, operator: bool, name: str | None) -> None:
    """Add a user and print a one-time link to choose the password."""
    if operator and (slug or role):
        raise click.UsageError("an operator belongs to no tenant: drop --tenant and --role")
    if not operator and not (slug and role):
        raise click.UsageError("give --tenant SLUG and --role agent|owner, or --operator")
    address = normalized_email(email)
    with cli_connection() as conn:
        tenant = known_tenant(conn, slug) if slug else None
        try:
            user = create_user(
                conn,
                email=address,
                role="operator" if operator else str(role),
                tenant_id=tenant.id if tenant else None,
                display_name=(name or "").strip() or None,
            )
        except pg_errors.UniqueViolation as exc:
            raise click.ClickException(f"a user with email {address!r} already exists") from exc
        except pg_errors.CheckViolation as exc:
            raise click.ClickException(f"invalid email {email!r}: write it as name@domain") from exc
        record_audit(
            conn,
            tenant_id=user.tenant_id,
            user_id=None,
            action="user.add",
            target=user.email,
            details={"role": user.role, "by": "cli"},
        )
        link = password_link(conn, user, _public_url(conn))
        conn.commit()
    where = f" of {tenant.slug}" if tenant else ""
    echo(f"added {user.role}{where}: {user.email} (id {user.id})")
    _say_link(link)


@users.command("reset-password")
@click.argument("email")
def reset_password(email: str) -> None:
    """A new one-time link: earlier links stop working; sessions end when the password is set."""
    with cli_connection() as conn:
        user = _known_user(conn, email)
        if user.disabled_at is not None:
            raise click.ClickException(f"{user.email} is disabled")
        record_audit(
            conn,
            tenant_id=user.tenant_id,
            user_id=None,
            action="user.reset_password",
            target=user.email,
            details={"by": "cli"},
        )
        link = password_link(conn, user, _public_url(conn))
        conn.commit()
    echo(f"{user.email}: earlier password links no longer work")
    _say_link(link)


@users.command()
@click.argument("email")
def disable(email: str) -> None:
    """No more sign-ins; every open session of the user ends now."""
    with cli_connection() as conn:
        user = _known_user(conn, email)
        if user.disabled_at is not None:
            echo(f"{user.email} was already disabled")
            return
        disable_user(conn, user.id)
        record_audit(
            conn,
            tenant_id=user.tenant_id,
            user_id=None,
            action="user.disable",
            target=user.email,
            details={"by": "cli"},
        )
        conn.commit()
    echo(f"{user.email} disabled: signed out everywhere, password links void")


@users.command("list")
@click.option("--tenant", "slug", help="Only this tenant's agents and owners.")
def list_(slug: str | None) -> None:
    """Users with role, tenant and whether a password is set (never the password itself)."""
    with cli_connection() as conn:
        tenant_id = known_tenant(conn, slug).id if slug else None
        rows = list_users(conn, tenant_id)
        slugs = {t.id: t.slug for t in list_tenants(conn)}
    if not rows:
        echo("no users yet: add one with `recado users add`")
        return
    table = [("ID", "EMAIL", "ROLE", "TENANT", "NAME", "PASSWORD", "STATE")]
    for user in rows:
        table.append(
            (
                str(user.id),
                user.email,
                user.role,
                slugs.get(user.tenant_id, "-") if user.tenant_id is not None else "-",
                user.display_name or "-",
                "set" if user.has_password else "not set",
                "disabled" if user.disabled_at is not None else "active",
            )
        )
    echo(format_table(table))


def _known_user(conn: Connection[object], email: str) -> User:
    user = user_by_email(conn, email)
    if user is None:
        raise click.ClickException(f"no user with email {normalized_email(email)!r}")
    return user
