"""`recado messages send`: a person's message into a conversation, through the outbox."""

import click

from db.conversations import live_conversation_with
from db.handoffs import hand_off
from db.tenants import tenant_by_slug
from domain.channels.whatsapp_send import text_request
from domain.phones import mask_phone, normalise_phone
from ops.database import cli_connection
from ops.output import echo


@click.group()
def messages() -> None:
    """Messages sent by a person (an agent or the operator)."""


@messages.command()
@click.option("--tenant", "slug", default="demo", show_default=True, help="Tenant slug.")
@click.option(
    "--to", "recipient", required=True, help="The contact's number, e.g. +52 1 55 1234 5678."
)
@click.option("--text", required=True, help="The message text (up to 4,096 characters).")
def send(slug: str, recipient: str, text: str) -> None:
    """Queue a text message to a contact who has written to the tenant; prints its id."""
    try:
        contact = normalise_phone(recipient)
    except ValueError as error:
        raise click.ClickException(f"--to: {error}") from None
    try:
        # The check the send step makes: a message it would refuse is refused here, before the
        # conversation is handed to a person and a dead letter is left behind.
        text_request(contact, text)
    except ValueError as error:
        raise click.ClickException(f"--text: {error}") from None
    with cli_connection() as conn:
        # Imported here: the steps (dramatiq, the broker) take 0.15 s that other commands skip.
        from actors.send import queue_outbound

        tenant = tenant_by_slug(conn, slug)
        if tenant is None:
            raise click.ClickException(f"no tenant {slug!r}")
        conversation = live_conversation_with(conn, tenant.id, "whatsapp", contact)
        if conversation is None:
            # Masked as `conversations list` shows contacts, so the two can be compared.
            raise click.ClickException(
                f"contact {mask_phone(contact)} has no open conversation with {slug}"
                " (only contacts who wrote to the tenant can be messaged)"
            )
        message_id = queue_outbound(
            conn,
            tenant_id=tenant.id,
            conversation_id=conversation.id,
            channel="whatsapp",
            type="text",
            text=text,
            details={"author": "agent"},
        )
        # A person is talking to the customer now: the assistant steps aside until the
        # conversation is returned (`recado conversations return`).
        took_over = hand_off(conn, tenant.id, conversation.id, "an agent replied")
        conn.commit()
    echo(f"queued message {message_id} in conversation {conversation.id}")
    if took_over is not None:
        echo(f"conversation {conversation.id} is now with a person (the assistant stays quiet)")
