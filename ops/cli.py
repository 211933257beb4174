"""`recado`: the click group; each command group lives in its own module."""

import os

import click

from db.errors import (
    DatabaseUnavailable,
    QueryTimedOut,
    SchemaMissing,
    StatementRefused,
    TransactionConflict,
    translated,
)
from domain.text import visible
from ops import (
    cli_cache,
    cli_chaos,
    cli_conversations,
    cli_db,
    cli_dead_letters,
    cli_messages,
    cli_profile,
    cli_quarantine,
    cli_queue,
    cli_run,
    cli_simulate,
    cli_tenant_settings,
    cli_tenants,
    cli_users,
)
from ops.database import describe


class RecadoGroup(click.Group):
    """Turns database failures into one readable line and exit code 1, not a traceback; renders
    control characters in every error message visibly (they can quote a webhook body)."""

    def invoke(self, ctx: click.Context) -> object:
        try:
            return self._invoke_readably(ctx)
        except click.ClickException as exc:
            # Click declares `message` Final, yet every subclass's format_message builds on it:
            # rewriting it is the one way to render every error's text safely.
            exc.message = visible(exc.message, multiline=True)  # type: ignore[misc]
            raise

    def _invoke_readably(self, ctx: click.Context) -> object:
        try:
            with translated():
                return super().invoke(ctx)
        except SchemaMissing as exc:
            raise click.ClickException(
                f"the database is not migrated ({exc}): run `recado db migrate` first"
            ) from exc
        except (DatabaseUnavailable, QueryTimedOut, TransactionConflict, StatementRefused) as exc:
            # The driver's own words (which server, which refusal): the cause says more.
            reason = " ".join(str(exc.__cause__ or exc).split()) or type(exc).__name__
            where = describe(os.environ.get("DATABASE_URL", ""))
            raise click.ClickException(
                f"PostgreSQL at {where} failed: {reason} (check DATABASE_URL and the server)"
            ) from exc


@click.group(cls=RecadoGroup)
@click.version_option(package_name="recado")
def main() -> None:
    """recado: WhatsApp customer messaging that never loses or duplicates a message.

    Every command reads DATABASE_URL; when it is unset, the embedded PostgreSQL under ./var/ is
    used (started on demand, stopped again by the command that started it).
    """


main.add_command(cli_run.run)
main.add_command(cli_run.serve)
main.add_command(cli_run.worker)
main.add_command(cli_db.db)
main.add_command(cli_tenants.tenants)
main.add_command(cli_dead_letters.dead_letters)
main.add_command(cli_queue.queue)
main.add_command(cli_messages.messages)
main.add_command(cli_quarantine.quarantine)
main.add_command(cli_simulate.simulate)
main.add_command(cli_cache.cache)
main.add_command(cli_conversations.conversations)
main.add_command(cli_chaos.chaos)
main.add_command(cli_users.users)
cli_tenants.tenants.add_command(cli_profile.profile)
cli_tenants.tenants.add_command(cli_tenant_settings.settings)
