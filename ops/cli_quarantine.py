"""`recado quarantine`: correctly signed webhook bodies we could not parse, kept raw."""

import click

from db.events import quarantined, quarantined_body
from db.tenants import tenant_by_id
from ops.database import cli_connection
from ops.options import LIMIT, ROW_ID
from ops.output import echo, format_table, format_time


@click.group()
def quarantine() -> None:
    """Authenticated webhook bodies that could not be parsed: inspect and replay them."""


@quarantine.command("list")
@click.option("--all", "include_replayed", is_flag=True, help="Include bodies already replayed.")
@click.option("--limit", type=LIMIT, default=100, show_default=True)
def list_(include_replayed: bool, limit: int) -> None:
    """Quarantined bodies, newest first (the bodies themselves hold personal data: see `show`)."""
    with cli_connection() as conn:
        rows = quarantined(conn, include_replayed=include_replayed, limit=limit)
    if not rows:
        echo("nothing in quarantine")
        return
    header = ("id", "tenant", "channel", "received", "bytes", "replayed", "reason")
    table = [
        (
            str(q.id),
            str(q.tenant_id),
            q.channel,
            format_time(q.received_at),
            str(len(q.body)),
            format_time(q.replayed_at),
            q.reason,
        )
        for q in rows
    ]
    echo(format_table([header, *table]))


@quarantine.command()
@click.argument("quarantine_id", type=ROW_ID)
def show(quarantine_id: int) -> None:
    """One quarantined body, printed as received (it may contain phone numbers and chat text)."""
    with cli_connection() as conn:
        q = quarantined_body(conn, quarantine_id)
    if q is None:
        raise click.ClickException(f"no quarantined body {quarantine_id}")
    echo(f"id {q.id}, tenant {q.tenant_id}, {q.channel}, received {format_time(q.received_at)}")
    echo(f"reason: {q.reason}")
    echo(q.body.decode("utf-8", errors="replace"))


@quarantine.command()
@click.argument("quarantine_id", type=ROW_ID)
def replay(quarantine_id: int) -> None:
    """Parse a quarantined body again (after a parser fix) and store its events once.

    A body still unparseable (or still not storable) stays in quarantine; exit code 1.
    """
    with cli_connection() as conn:
        # Imported here: the steps (dramatiq, the broker) take 0.15 s that other commands skip.
        from actors.intake import replay_quarantined

        q = quarantined_body(conn, quarantine_id)
        if q is None:
            raise click.ClickException(f"no quarantined body {quarantine_id}")
        result = replay_quarantined(conn, q, tenant_by_id(conn, q.tenant_id))
        match result.status:
            case "already_replayed":
                echo(f"{quarantine_id}: already replayed at {format_time(q.replayed_at)}")
                return
            case "unsupported":
                raise click.ClickException(f"{quarantine_id}: no replay for {q.channel} bodies")
            case "unparseable":
                raise click.ClickException(f"{quarantine_id}: still unparseable: {result.detail}")
            case "refused":
                raise click.ClickException(f"{quarantine_id}: still refused: {result.detail}")
        conn.commit()
    echo(f"{quarantine_id}: replayed, {result.new_events} new events queued")
