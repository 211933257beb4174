"""`recado dead-letters`: failed steps, inspected, requeued or discarded by an operator."""

import getpass
import json
import re
import socket
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import click
from psycopg import Connection

from db.dead_letters import discard as discard_dead_letters
from db.dead_letters import get_dead_letter, list_dead_letters, requeue_history
from db.errors import (
    QueryTimedOut,
    StatementRefused,
    TransactionConflict,
    UnstorableValue,
    translated,
)
from ops.database import cli_connection
from ops.options import LIMIT, ROW_ID
from ops.output import echo, format_table, format_time

if TYPE_CHECKING:
    # Only for annotations: the steps load on use (see `_requeue_one`).
    from actors.requeue import RequeueOutcome

STATES = ("dead", "requeued", "discarded", "resolved")
# Requeueing by filter takes at most this many per run, so one command cannot flood the queue.
REQUEUE_BATCH = 1000
_RELATIVE = re.compile(r"^(\d+)([smhd])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}


class Since(click.ParamType):
    """An ISO 8601 time (UTC unless it says otherwise) or an age such as 30m, 2h, 7d."""

    name = "since"

    def convert(
        self, value: object, param: click.Parameter | None, ctx: click.Context | None
    ) -> datetime:
        if isinstance(value, datetime):
            return value
        text = str(value).strip()
        relative = _RELATIVE.match(text)
        if relative:
            try:
                delta = timedelta(**{_UNITS[relative.group(2)]: int(relative.group(1))})
                return datetime.now(UTC) - delta
            except OverflowError:
                self.fail(f"{text!r} reaches before the year 1", param)
        try:
            parsed = datetime.fromisoformat(text)
        except ValueError:
            self.fail(f"{text!r} is neither an ISO time (2025-06-01T12:00) nor an age (2h)", param)
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


@click.group("dead-letters")
def dead_letters() -> None:
    """Steps that exhausted their retries or failed permanently."""


@dead_letters.command("list")
@click.option("--actor", help="Only this actor (e.g. ingest_event).")
@click.option("--since", type=Since(), help="Last failed at or after: ISO time or age (2h).")
@click.option(
    "--state",
    "states",
    type=click.Choice(STATES),
    multiple=True,
    help="Repeatable; default: dead.",
)
@click.option("--limit", default=100, show_default=True, type=LIMIT)
def list_(actor: str | None, since: datetime | None, states: tuple[str, ...], limit: int) -> None:
    """List dead letters, newest failure first."""
    with cli_connection() as conn:
        rows = list_dead_letters(
            conn, actor=actor, since=since, states=states or ("dead",), limit=limit
        )
    if not rows:
        echo("no dead letters match")
        return
    table = [("ID", "STATE", "ACTOR", "ATTEMPTS", "ERROR", "TENANT", "LAST FAILED")]
    for d in rows:
        table.append(
            (
                str(d.id),
                d.state,
                d.actor,
                str(d.attempts),
                _one_line(f"{d.exception_type}: {d.exception_text}", 60),
                str(d.tenant_id or "-"),
                format_time(d.last_failed_at),
            )
        )
    echo(format_table(table))


@dead_letters.command()
@click.argument("dead_letter_id", type=ROW_ID)
def show(dead_letter_id: int) -> None:
    """Show one dead letter with its arguments and traceback."""
    with cli_connection() as conn:
        d = get_dead_letter(conn, dead_letter_id)
        history = requeue_history(conn, dead_letter_id)
    if d is None:
        raise click.ClickException(f"no dead letter with id {dead_letter_id}")
    fields = [
        ("id", str(d.id)),
        ("state", d.state),
        ("actor", d.actor),
        ("queue", d.queue_name),
        ("message id", str(d.message_id)),
        ("args", json.dumps(d.args)),
        ("kwargs", json.dumps(d.kwargs)),
        ("attempts", str(d.attempts)),
        ("failures", str(d.failures)),
        ("tenant", str(d.tenant_id or "-")),
        ("conversation", str(d.conversation_id or "-")),
        ("related", json.dumps(d.related)),
        ("first failed", format_time(d.first_failed_at)),
        ("last failed", format_time(d.last_failed_at)),
        ("error", f"{d.exception_type}: {d.exception_text}"),
    ]
    width = max(len(name) for name, _ in fields)
    for name, value in fields:
        echo(f"{name.ljust(width)}  {value}")
    for message_id, requeued_by, requeued_at in history:
        echo(
            f"{'requeued'.ljust(width)}  {format_time(requeued_at)} by {requeued_by}"
            f" as message {message_id}"
        )
    echo("\n" + d.traceback.rstrip())


@dead_letters.command()
@click.argument("ids", nargs=-1, type=ROW_ID)
@click.option("--actor", help="Requeue this actor's dead letters instead of listing IDs.")
@click.option("--since", type=Since(), help="With --actor: last failed at or after this.")
def requeue(ids: tuple[int, ...], actor: str | None, since: datetime | None) -> None:
    """Run failed steps again: by ID, or all dead ones of --actor [--since].

    Each dead letter is requeued in its own transaction and its outcome printed; requeueing one
    twice, even from two commands at once, queues it once. A send whose message failed for good
    is not requeued (its step could do nothing) and says so. Exit code 1 if any was not found,
    has no actor any more, could not be requeued or failed.
    """
    if bool(ids) == bool(actor):
        raise click.UsageError("give dead letter IDs or --actor, not both and not neither")
    if since and not actor:
        raise click.UsageError("--since only applies with --actor")
    with cli_connection() as conn:
        if actor:
            found = list_dead_letters(
                conn, actor=actor, since=since, states=("dead",), limit=REQUEUE_BATCH
            )
            ids = tuple(d.id for d in found)
            if not ids:
                echo(f"no dead letters of {actor} to requeue")
                return
        operator = _operator()
        outcomes = [_requeue_one(conn, dead_letter_id, operator) for dead_letter_id in ids]
    if actor and len(ids) == REQUEUE_BATCH:
        echo(f"requeued the first {REQUEUE_BATCH}; run the command again for more")
    if any(o.status in ("not_found", "unknown_actor", "pointless", "failed") for o in outcomes):
        raise click.exceptions.Exit(1)


def _requeue_one(conn: Connection[object], dead_letter_id: int, operator: str) -> "RequeueOutcome":
    """One letter in its own transaction, so its failure undoes none of the others."""
    # Imported here: the steps (dramatiq, the broker) take 0.15 s that other commands skip.
    from actors.requeue import RequeueOutcome, requeue_one

    try:
        with translated():
            outcome = requeue_one(conn, dead_letter_id, requeued_by=operator)
            conn.commit()
    except (StatementRefused, TransactionConflict, QueryTimedOut, UnstorableValue) as error:
        # This letter only: a lost connection (DatabaseUnavailable) ends the command.
        conn.rollback()
        reason = str(error) or type(error).__name__
        outcome = RequeueOutcome(dead_letter_id, "failed", None, _one_line(reason, 200))
    echo(f"{dead_letter_id}: {_describe(outcome)}")
    return outcome


def _describe(outcome: "RequeueOutcome") -> str:
    match outcome.status:
        case "requeued":
            return f"requeued as message {outcome.message_id}"
        case "already_requeued" if outcome.message_id:
            return (
                f"already requeued by {outcome.detail} (message {outcome.message_id}); nothing done"
            )
        case "already_requeued":
            return "already requeued; nothing done"
        case "discarded":
            return "discarded earlier; not requeued"
        case "resolved":
            return "already resolved; not requeued"
        case "not_found":
            return "no such dead letter"
        case "unknown_actor":
            return "its actor no longer exists; left dead"
        case "pointless":
            return f"not requeued: {outcome.detail}; left dead"
        case _:
            return f"failed: {outcome.detail}; left dead"


@dead_letters.command()
@click.argument("ids", nargs=-1, type=ROW_ID, required=True)
def discard(ids: tuple[int, ...]) -> None:
    """Mark dead letters as discarded: they will not be requeued."""
    with cli_connection() as conn:
        count = discard_dead_letters(conn, ids)
        conn.commit()
    echo(f"discarded {count} of {len(ids)} dead letters")
    if count < len(ids):
        echo("the others do not exist or were not dead (requeued or resolved)", err=True)
        raise click.exceptions.Exit(1)


def _operator() -> str:
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "unknown"
    return f"cli:{user}@{socket.gethostname()}"


def _one_line(text: str, width: int) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= width else flat[: width - 1] + "…"
