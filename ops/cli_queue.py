"""`recado queue stats`: one screen on what is queued, stuck or failed."""

from datetime import UTC, datetime

import click

from db.breakers import breaker_states
from db.broker_queue import advisory_lock_count, stats
from db.dead_letters import counts_by_state
from db.overview import (
    outbox,
    paused_tenants,
    quarantined_bodies,
    resend_total,
    unprocessed_events,
)
from ops.database import cli_connection
from ops.output import echo, format_age, format_table


@click.group()
def queue() -> None:
    """The broker queue and everything waiting on it."""


@queue.command("stats")
def stats_() -> None:
    """Broker rows by queue and state, backlogs, locks and dead letters."""
    with cli_connection() as conn:
        broker_rows = stats(conn)
        locks = advisory_lock_count(conn)
        dead = counts_by_state(conn)
        events = unprocessed_events(conn)
        quarantine = quarantined_bodies(conn)
        sending = outbox(conn)
        resends = resend_total(conn)
        breakers = breaker_states(conn)
        paused = paused_tenants(conn)
    now = datetime.now(UTC)

    echo("broker queue (dramatiq.queue)")
    if broker_rows:
        table = [("QUEUE", "STATE", "COUNT", "OLDEST")]
        for row in broker_rows:
            table.append((row.queue_name, row.state, str(row.count), _age(now, row.oldest)))
        echo(_indent(format_table(table)))
    else:
        echo("  empty")
    queued = [row.oldest for row in broker_rows if row.state == "queued" and row.oldest]
    echo(f"  oldest queued message: {_age(now, min(queued)) if queued else '-'}")
    echo(f"  advisory locks held: {locks}")

    echo("dead letters")
    if dead:
        for state in sorted(dead):
            echo(f"  {state}: {dead[state]}")
    else:
        echo("  none")

    echo(f"inbound events not yet processed: {events.count} (oldest {_age(now, events.oldest)})")
    echo(
        f"quarantined bodies not replayed: {quarantine.count}"
        f" (oldest {_age(now, quarantine.oldest)})"
    )

    echo(
        f"outbox: {sending.pending} pending, {sending.sending} sending"
        f" ({sending.awaiting_evidence} awaiting evidence of acceptance),"
        f" oldest {_age(now, sending.oldest)}; resends so far: {resends}"
    )
    echo("circuit breakers")
    if breakers:
        breaker_table = [("TENANT", "CHANNEL", "STATE", "FAILURES", "UNTIL")]
        for tenant_id, channel, state, failures, until in breakers:
            breaker_table.append((str(tenant_id), channel, state, str(failures), str(until or "-")))
        echo(_indent(format_table(breaker_table)))
    else:
        echo("  all closed")
    for tenant in paused:
        echo(
            f"sending PAUSED for {tenant.slug} since {tenant.since:%Y-%m-%d %H:%M} UTC:"
            f" {tenant.reason} (fix the token, then `recado tenants resume {tenant.slug}`)"
        )


def _age(now: datetime, then: datetime | None) -> str:
    return format_age(now - then) if then else "-"


def _indent(text: str) -> str:
    return "\n".join("  " + line for line in text.splitlines())
