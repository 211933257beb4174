"""`recado tenants`: the businesses this deployment serves."""

import sys

import click
from psycopg import errors as pg_errors

from db.tenants import create_tenant, list_tenants, tenant_by_slug, update_credentials
from domain.credentials import check_secret
from ops.database import cli_connection
from ops.output import echo, format_table

# Constraint names PostgreSQL gives the UNIQUE columns of migrations/0002_core.sql.
_DUPLICATES = {
    "tenants_slug_key": "a tenant with slug {slug!r} already exists",
    "tenants_wa_phone_number_id_key": (
        "phone number id {phone_number_id} already belongs to another tenant"
    ),
}


@click.group()
def tenants() -> None:
    """Tenants and their WhatsApp credentials."""


@tenants.command("add")
@click.argument("slug")
@click.option("--name", help="Display name (default: the slug).")
@click.option("--phone-number-id", required=True, help="WhatsApp Cloud API phone number id.")
@click.option("--app-secret", required=True, help="Meta app secret: verifies webhook signatures.")
@click.option("--verify-token", required=True, help="Token Meta echoes in the webhook handshake.")
@click.option("--access-token", required=True, help="Graph API token used to send messages.")
def add(
    slug: str,
    name: str | None,
    phone_number_id: str,
    app_secret: str,
    verify_token: str,
    access_token: str,
) -> None:
    """Add a tenant. SLUG names its webhook: /webhooks/whatsapp/SLUG."""
    with cli_connection() as conn:
        try:
            tenant = create_tenant(
                conn,
                slug=slug,
                name=name or slug,
                wa_phone_number_id=phone_number_id,
                wa_app_secret=app_secret,
                wa_verify_token=verify_token,
                wa_access_token=access_token,
            )
        except pg_errors.UniqueViolation as exc:
            template = _DUPLICATES.get(exc.diag.constraint_name or "", "the tenant already exists")
            raise click.ClickException(
                template.format(slug=slug, phone_number_id=phone_number_id)
            ) from exc
        except pg_errors.CheckViolation as exc:
            raise click.ClickException(
                f"invalid slug {slug!r}: use 1-63 lowercase letters, digits and '-', "
                "starting with a letter or digit"
            ) from exc
        conn.commit()
    echo(f"added tenant {tenant.slug} (id {tenant.id}): webhook /webhooks/whatsapp/{slug}")


# Option -> (column, what the operator is asked for).
_ROTATABLE = {
    "access_token": ("wa_access_token", "access token"),
    "app_secret": ("wa_app_secret", "app secret"),
    "verify_token": ("wa_verify_token", "verify token"),
}


@tenants.command()
@click.argument("slug")
@click.option("--access-token", is_flag=True, help="Replace the Graph API token used to send.")
@click.option("--app-secret", is_flag=True, help="Replace the Meta app secret (signatures).")
@click.option("--verify-token", is_flag=True, help="Replace the webhook handshake token.")
def update(slug: str, access_token: bool, app_secret: bool, verify_token: bool) -> None:
    """Rotate a tenant's credentials: the new values are asked for without echo, or read from
    standard input one per line (in the order access token, app secret, verify token), so they
    appear in no shell history, process list or log."""
    chosen = [
        option
        for option, wanted in (
            ("access_token", access_token),
            ("app_secret", app_secret),
            ("verify_token", verify_token),
        )
        if wanted
    ]
    if not chosen:
        raise click.UsageError("name what to replace: --access-token, --app-secret, --verify-token")
    with cli_connection() as conn:
        tenant = tenant_by_slug(conn, slug)
        if tenant is None:
            raise click.ClickException(f"no tenant {slug!r}")
        values = {_ROTATABLE[option][0]: _read_secret(_ROTATABLE[option][1]) for option in chosen}
        update_credentials(conn, tenant.id, values)
        conn.commit()
    echo(f"{slug}: {', '.join(_ROTATABLE[option][1] for option in chosen)} replaced")
    if access_token and tenant.sending_paused_at is not None:
        echo(f"sending is still paused: run `recado tenants resume {slug}` to send what waited")


def _read_secret(what: str) -> str:
    """From a hidden prompt on a terminal, else one line of standard input; never echoed."""
    if sys.stdin.isatty():
        raw = click.prompt(f"New {what}", hide_input=True, err=True)
    else:
        raw = sys.stdin.readline()
    try:
        return check_secret(what, raw)
    except ValueError as error:
        raise click.ClickException(str(error)) from None


@tenants.command("list")
def list_() -> None:
    """List tenants. Secrets are never shown, only whether each one is set."""
    with cli_connection() as conn:
        rows = list_tenants(conn)
    if not rows:
        echo("no tenants yet: add one with `recado tenants add`")
        return
    table = [
        ("ID", "SLUG", "NAME", "PHONE NUMBER ID", "APP SECRET", "VERIFY TOKEN", "ACCESS TOKEN")
    ]
    for t in rows:
        table.append(
            (
                str(t.id),
                t.slug,
                t.name,
                t.wa_phone_number_id or "-",
                _is_set(t.wa_app_secret),
                _is_set(t.wa_verify_token),
                _is_set(t.wa_access_token),
            )
        )
    echo(format_table(table))


def _is_set(value: str | None) -> str:
    return "set" if value else "missing"


@tenants.command()
@click.argument("slug")
def resume(slug: str) -> None:
    """Resume a tenant's sending after a token error, and requeue the sends that waited."""
    with cli_connection() as conn:
        # Imported here: the steps (dramatiq, the broker) take 0.15 s that other commands skip.
        from actors.requeue import resume_sending

        tenant = tenant_by_slug(conn, slug)
        if tenant is None:
            raise click.ClickException(f"no tenant {slug!r}")
        if tenant.sending_paused_at is None:
            echo(f"{slug}: sending is not paused")
            return
        requeued = resume_sending(conn, tenant, requeued_by=f"cli:resume {slug}")
        conn.commit()
    echo(f"{slug}: sending resumed; {requeued} waiting sends requeued")
