"""`recado tenants profile`: the business profile the assistant answers from."""

import json
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import click

from db.profiles import clear_profile, profile_of, set_profile
from domain.profile import ProfileError, parse_profile
from ops.database import cli_connection
from ops.output import echo
from ops.tenant_lookup import known_tenant


@click.group()
def profile() -> None:
    """The business profile: services, prices, hours, FAQ. No profile: no assistant."""


@profile.command()
@click.argument("slug")
def show(slug: str) -> None:
    """Print the tenant's profile as JSON."""
    with cli_connection() as conn:
        tenant = known_tenant(conn, slug)
        stored = profile_of(conn, tenant.id)
    if stored is None:
        echo(f"{slug} has no profile: the assistant is off (`recado tenants profile set`)")
        return
    echo(json.dumps(stored, indent=2, ensure_ascii=False))


@profile.command("set")
@click.argument("slug")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def set_(slug: str, file: Path) -> None:
    """Replace the tenant's profile with the JSON object in FILE (checked first)."""
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise click.ClickException(f"{file} is not valid JSON: {error}") from error
    with cli_connection() as conn:
        tenant = known_tenant(conn, slug)
        try:
            parsed = parse_profile(data, default_name=tenant.name)
        except ProfileError as error:
            raise click.ClickException(f"{file}: {error}") from error
        try:
            ZoneInfo(parsed.timezone)
        except (ZoneInfoNotFoundError, ValueError) as error:
            raise click.ClickException(
                f"{file}: unknown time zone {parsed.timezone!r}"
                " (use an IANA name such as America/Mexico_City)"
            ) from error
        set_profile(conn, tenant.id, data)
        conn.commit()
    echo(
        f"{slug}: profile of {parsed.name} saved ({len(parsed.services)} services,"
        f" {len(parsed.faq)} FAQ entries, time zone {parsed.timezone}); the assistant is on"
    )


@profile.command()
@click.argument("slug")
def clear(slug: str) -> None:
    """Remove the profile: the assistant stops answering and messages wait for a person."""
    with cli_connection() as conn:
        tenant = known_tenant(conn, slug)
        cleared = clear_profile(conn, tenant.id)
        conn.commit()
    echo(f"{slug}: profile removed; the assistant is off" if cleared else f"{slug}: no profile")
