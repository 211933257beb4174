"""`recado db`: schema migrations."""

import click

from db.migrate import migrate as apply_migrations
from ops.database import cli_connection
from ops.output import echo


@click.group()
def db() -> None:
    """Database schema."""


@db.command()
def migrate() -> None:
    """Apply pending migrations (idempotent; also installs the broker's queue table)."""
    with cli_connection(autocommit=True) as conn:
        applied = apply_migrations(conn)
    if applied:
        for name in applied:
            echo(f"applied {name}")
    else:
        echo("database is up to date")
