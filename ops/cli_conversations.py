"""`recado conversations`: what the assistant said and why, and taking a conversation over.

Every command names its tenant; a conversation of another tenant is reported as not existing.
"""

import click
from psycopg import Connection

from db.conversation_views import (
    ConversationLine,
    conversation_line,
    list_conversations,
    recent_messages,
    recent_replies,
)
from db.handoffs import hand_off, open_notifications, return_to_bot
from db.tenants import Tenant
from domain.models import ConversationStatus
from domain.phones import mask_phone
from domain.tenant_settings import ON_RETURN_ASSISTANT
from ops.database import cli_connection
from ops.options import LIMIT, ROW_ID
from ops.output import echo, format_table, format_time
from ops.tenant_lookup import known_tenant, tenant_zone

SHOWN_MESSAGES = 20
SHOWN_REPLIES = 20
STATUSES = [status.value for status in ConversationStatus]

tenant_option = click.option("--tenant", "slug", required=True, help="Tenant slug.")


@click.group()
def conversations() -> None:
    """Conversations with customers: inspect them, hand them to a person and back."""


@conversations.command("list")
@tenant_option
@click.option("--status", type=click.Choice(STATUSES), help="Only conversations in this status.")
@click.option(
    "--needs-reply",
    is_flag=True,
    help="Only conversations whose customer wrote last and nobody has answered yet.",
)
@click.option("--limit", default=50, show_default=True, type=LIMIT)
def list_(slug: str, status: str | None, needs_reply: bool, limit: int) -> None:
    """Conversations, most recently active first."""
    with cli_connection() as conn:
        tenant = known_tenant(conn, slug)
        rows = list_conversations(
            conn,
            tenant.id,
            status=None if status is None else ConversationStatus(status),
            needs_reply=needs_reply,
            limit=limit,
        )
    if not rows:
        kind = f"{status} " if status else ""
        waiting = "needing a reply " if needs_reply else ""
        echo(f"no {kind}conversations {waiting}for {slug}")
        return
    zone = tenant_zone(tenant)
    table = [("ID", "CONTACT", "STATUS", "NEEDS A PERSON BECAUSE", "LAST INBOUND", "NOTIFICATIONS")]
    table.extend(
        (
            str(row.id),
            mask_phone(row.contact),
            row.status,
            row.needs_human_reason or "-",
            format_time(row.last_inbound_at, zone),
            str(row.open_notifications),
        )
        for row in rows
    )
    echo(format_table(table))


@conversations.command()
@tenant_option
@click.argument("conversation_id", type=ROW_ID)
@click.option(
    "--before",
    type=ROW_ID,
    metavar="MESSAGE_ID",
    help="Show the page of messages before this one (the command prints the next one to use).",
)
@click.option("--messages", "per_page", default=SHOWN_MESSAGES, show_default=True, type=LIMIT)
def show(slug: str, conversation_id: int, before: int | None, per_page: int) -> None:
    """The conversation's messages, newest page first, and the assistant's planning outcomes.

    Times are in the business profile's time zone; texts are shown whole.
    """
    with cli_connection() as conn:
        tenant = known_tenant(conn, slug)
        line = _conversation(conn, tenant, conversation_id)
        # One more than a page: whether there is an older page to point to.
        messages = recent_messages(conn, tenant.id, conversation_id, per_page + 1, before=before)
        replies = recent_replies(conn, tenant.id, conversation_id, SHOWN_REPLIES)
    zone = tenant_zone(tenant)
    older = len(messages) > per_page
    messages = messages[-per_page:]
    echo(f"conversation {line.id} with {mask_phone(line.contact)}: {line.status}")
    if line.needs_human_reason:
        echo(f"needs a person because: {line.needs_human_reason}")
    if line.handoff_at:
        echo(f"handed off at {format_time(line.handoff_at, zone)}")
    echo(f"open notifications: {line.open_notifications}")
    where = f"before message {before}" if before else "latest"
    echo(f"\nmessages, {where} (up to {per_page}):")
    message_table = [("ID", "TIME", "DIR", "AUTHOR", "TYPE", "STATUS", "TEXT")]
    message_table.extend(
        (
            str(m.id),
            format_time(m.at, zone),
            m.direction,
            m.author or ("customer" if m.direction == "in" else "-"),
            m.type,
            m.delivery_status or "-",
            m.text or "-",
        )
        for m in messages
    )
    echo(format_table(message_table) if messages else "  none")
    if older:
        echo(
            f"older messages: recado conversations show --tenant {slug} {conversation_id}"
            f" --before {messages[0].id}"
        )
    if before:
        return
    echo(f"\nlatest planned replies (up to {SHOWN_REPLIES}):")
    reply_table = [
        ("ID", "TIME", "THROUGH", "OUTCOME", "SOURCE", "INTENT", "CONFIDENCE", "TOKENS IN/OUT",
         "CUT MSGS/CHARS", "LATENCY", "COST USD", "HAND-OFF REASON"),
    ]  # fmt: skip
    reply_table.extend(
        (
            str(r.id),
            format_time(r.created_at, zone),
            str(r.through_message_id),
            r.outcome,
            r.source,
            r.intent or "-",
            "-" if r.confidence is None else f"{r.confidence:.2f}",
            f"{r.prompt_tokens}/{r.completion_tokens}",
            f"{r.prompt_messages_cut}/{r.prompt_chars_cut}" if r.prompt_messages_cut else "-",
            "-" if r.latency_ms is None else f"{r.latency_ms} ms",
            f"{r.cost_usd:.6f}",
            r.handoff_reason or "-",
        )
        for r in replies
    )
    echo(format_table(reply_table) if replies else "  none")


@conversations.command()
@tenant_option
@click.argument("conversation_id", type=ROW_ID)
@click.option("--reason", required=True, help="Why a person takes over (agents read it).")
def handoff(slug: str, conversation_id: int, reason: str) -> None:
    """Take the conversation from the assistant: a person answers from now on."""
    with cli_connection() as conn:
        tenant = known_tenant(conn, slug)
        line = _conversation(conn, tenant, conversation_id)
        notification = hand_off(conn, tenant.id, conversation_id, reason)
        if notification is None:
            raise click.ClickException(
                f"conversation {conversation_id} is {line.status}, not with the assistant"
            )
        conn.commit()
    echo(
        f"conversation {conversation_id} handed to a person (notification {notification});"
        f" give it back with `recado conversations return --tenant {slug} {conversation_id}`"
    )


@conversations.command("return")
@tenant_option
@click.argument("conversation_id", type=ROW_ID)
def return_(slug: str, conversation_id: int) -> None:
    """Give the conversation back to the assistant.

    What the customer wrote after the person's last message is answered by the assistant now,
    or left to the person (tenant setting unanswered_on_return), who is told so.
    """
    with cli_connection() as conn:
        tenant = known_tenant(conn, slug)
        line = _conversation(conn, tenant, conversation_id)
        returned = return_to_bot(conn, tenant.id, conversation_id)
        if returned is None:
            raise click.ClickException(
                f"conversation {conversation_id} is {line.status}, not with a person"
            )
        settings = tenant.typed_settings()
        answering = returned.unanswered > 0 and settings.unanswered_on_return == ON_RETURN_ASSISTANT
        if answering:
            # Imported here: importing actors installs the broker, which needs DATABASE_URL.
            from actors.plan import schedule

            schedule(conn, settings, conversation_id, returned.newest_inbound)
        conn.commit()
    echo(f"conversation {conversation_id} is back with the assistant")
    if answering:
        echo(f"it answers the {returned.unanswered} unanswered customer messages now")
    elif returned.unanswered:
        echo(
            f"{returned.unanswered} customer messages are still unanswered: answer them with"
            f" `recado messages send` (the assistant answers them with the customer's next one)"
        )


@conversations.command()
@tenant_option
def notifications(slug: str) -> None:
    """Notifications agents have not yet dealt with (returning a conversation clears its own)."""
    with cli_connection() as conn:
        tenant = known_tenant(conn, slug)
        rows = open_notifications(conn, tenant.id)
    if not rows:
        echo(f"no open notifications for {slug}")
        return
    zone = tenant_zone(tenant)
    table = [("ID", "CONVERSATION", "KIND", "REASON", "CREATED")]
    table.extend(
        (str(n.id), str(n.conversation_id), n.kind, n.reason, format_time(n.created_at, zone))
        for n in rows
    )
    echo(format_table(table))


def _conversation(
    conn: Connection[object], tenant: Tenant, conversation_id: int
) -> ConversationLine:
    line = conversation_line(conn, tenant.id, conversation_id)
    if line is None:
        raise click.ClickException(f"no conversation {conversation_id} for tenant {tenant.slug}")
    return line
