"""`recado tenants profile`: the business profile the assistant answers from."""

import json
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import click

from db.profiles import (
    clear_profile,
    profile_of,
    profile_version,
    profile_versions,
    set_profile,
)
from domain.profile import BusinessProfile, ProfileError, check_keys, parse_profile
from ops.database import cli_connection
from ops.options import VERSION
from ops.output import echo, format_table, format_time
from ops.tenant_lookup import known_tenant, tenant_zone


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
    except RecursionError:
        raise click.ClickException(f"{file} is nested too deeply to be a profile") from None
    with cli_connection() as conn:
        tenant = known_tenant(conn, slug)
        parsed = _checked(data, tenant.name, str(file))
        version = set_profile(conn, tenant.id, data)
        conn.commit()
    echo(
        f"{slug}: profile of {parsed.name} saved ({_counts(parsed)}) as version {version};"
        " the assistant is on"
    )


@profile.command()
@click.argument("slug")
def history(slug: str) -> None:
    """Every saved version of the profile, newest first (`restore` brings one back)."""
    with cli_connection() as conn:
        tenant = known_tenant(conn, slug)
        versions = profile_versions(conn, tenant.id)
    if not versions:
        echo(f"{slug} has never had a profile")
        return
    zone = tenant_zone(tenant)
    table = [("VERSION", "SAVED", "PROFILE")]
    for v in versions:
        if v.profile is None:
            what = "cleared: assistant off"
        else:
            try:
                what = _summary(parse_profile(v.profile, default_name=tenant.name))
            except ProfileError as error:
                what = f"invalid: {error}"
        if v.restored_from is not None:
            what += f" (restored from version {v.restored_from})"
        table.append((str(v.version), format_time(v.saved_at, zone), what))
    echo(format_table(table))


@profile.command()
@click.argument("slug")
@click.argument("version", type=VERSION)
def restore(slug: str, version: int) -> None:
    """Save an earlier VERSION again as the current profile (itself a new version)."""
    with cli_connection() as conn:
        tenant = known_tenant(conn, slug)
        old = profile_version(conn, tenant.id, version)
        if old is None:
            raise click.ClickException(f"{slug} has no profile version {version}")
        if old.profile is None:
            raise click.ClickException(
                f"version {version} is a cleared profile: use `recado tenants profile clear`"
            )
        parsed = _checked(old.profile, tenant.name, f"version {version}")
        saved = set_profile(conn, tenant.id, old.profile, restored_from=version)
        conn.commit()
    echo(f"{slug}: version {version} restored as version {saved}: {_summary(parsed)}")


def _checked(data: Any, default_name: str, where: str) -> BusinessProfile:
    """The parsed profile, or a one-line error naming `where` and the first problem."""
    try:
        check_keys(data)
        parsed = parse_profile(data, default_name=default_name)
    except ProfileError as error:
        raise click.ClickException(f"{where}: {error}") from error
    try:
        ZoneInfo(parsed.timezone)
    except (ZoneInfoNotFoundError, ValueError) as error:
        raise click.ClickException(
            f"{where}: unknown time zone {parsed.timezone!r}"
            " (use an IANA name such as America/Mexico_City)"
        ) from error
    return parsed


def _summary(parsed: BusinessProfile) -> str:
    return f"{parsed.name} ({_counts(parsed)})"


def _counts(parsed: BusinessProfile) -> str:
    return (
        f"{len(parsed.services)} services, {len(parsed.faq)} FAQ entries,"
        f" time zone {parsed.timezone}"
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
