"""The composer panel (an htmx fragment of the conversation page) and what agents do from it.

Every POST works as a plain form (answered by a redirect to the conversation page) and through
htmx (answered by the panel, re-rendered). A refusal answers 400/409 with the reason: in the panel
for htmx (webapp/static/compose.js swaps it in), as a page otherwise.
"""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from uuid import UUID, uuid4

from flask import abort, g, redirect, render_template, request, url_for
from psycopg import Connection
from werkzeug.wrappers import Response

from actors.plan import schedule
from actors.send import queue_composed
from db import compose
from db.canned_replies import canned_replies
from db.clock import database_now
from db.compose import ComposedMessage, ComposerConversation
from db.handoffs import hand_off, return_to_bot
from db.message_templates import message_template, message_templates
from db.tenants import Tenant
from db.users import User, record_audit, users_of_tenant
from domain.channels.whatsapp_send import MAX_TEXT_BODY
from domain.compose import (
    canned_values,
    fill_canned,
    parameter_problem,
    template_payload,
    template_text,
)
from domain.models import ConversationStatus
from domain.tenant_settings import ON_RETURN_ASSISTANT
from domain.window import CUSTOMER_SERVICE_WINDOW, window_left
from webapp.admin.access import tenant_view
from webapp.admin.i18n import _
from webapp.compose.blueprint import blueprint
from webapp.db import run_transaction, transaction

# Lets compose.js tell the panel (swapped in even on 400/409) from any other error page.
PANEL_HEADER = "X-Recado-Panel"
# Preview of a quoted message, in characters.
QUOTE_PREVIEW = 120


class Refused(Exception):
    """The action cannot be done as asked: nothing is written, the agent is told why."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


@blueprint.get("/t/<slug>/c/<int:conversation_id>/composer")
@tenant_view()
def panel(tenant: Tenant, conversation_id: int) -> str:
    # A live refresh carries the key it was rendered with: a click landing during the refresh
    # still posts the key of the draft on screen, and a resubmission still sends once.
    key = _parsed_key(request.args.get("compose_key")) or uuid4()
    with transaction() as conn:
        return _render_panel(conn, tenant, _conversation(conn, tenant, conversation_id), key)


@blueprint.post("/t/<slug>/c/<int:conversation_id>/messages")
@tenant_view()
def send(tenant: Tenant, conversation_id: int) -> Response | tuple[str, int, dict[str, str]]:
    """Free text to the customer, within the 24-hour window, maybe quoting one of its messages."""
    key = _posted_key()
    text = request.form.get("text", "").strip()
    quoted_id = _optional_id(request.form.get("reply_to_message_id"))

    def work(conn: Connection[Any]) -> None:
        conversation = _conversation(conn, tenant, conversation_id, lock=True)
        reply_to = None
        if quoted_id is not None:
            quoted = compose.quoted_message(conn, tenant.id, conversation_id, quoted_id)
            if quoted is None:
                abort(404)
            if quoted.provider_message_id is None:
                raise Refused(_("That message has not reached WhatsApp yet: it cannot be quoted."))
            reply_to = quoted.provider_message_id
        if compose.composed_message_id(conn, tenant.id, key) is not None:
            return  # sent already: the same form, posted again
        _check_sendable(conn, conversation)
        if not text:
            raise Refused(_("Write a message first."))
        if len(text) > MAX_TEXT_BODY:
            raise Refused(_("A message has at most {limit} characters.", limit=MAX_TEXT_BODY))
        details: dict[str, Any] = {"author": "agent"}
        if quoted_id is not None:
            details["reply_to_message_id"] = quoted_id
        _send(conn, tenant, conversation, key, "text", text, details, reply_to)

    return _act(tenant, conversation_id, work, key)


@blueprint.post("/t/<slug>/c/<int:conversation_id>/template-messages")
@tenant_view()
def send_template(
    tenant: Tenant, conversation_id: int
) -> Response | tuple[str, int, dict[str, str]]:
    """One of the tenant's approved templates: what may be sent outside the 24-hour window."""
    key = _posted_key()
    template_id = _optional_id(request.form.get("template_id"))
    if template_id is None:
        abort(400)

    def work(conn: Connection[Any]) -> None:
        conversation = _conversation(conn, tenant, conversation_id, lock=True)
        template = message_template(conn, tenant.id, template_id)
        if template is None:
            abort(404)
        if compose.composed_message_id(conn, tenant.id, key) is not None:
            return
        if conversation.status == ConversationStatus.CLOSED:
            raise Refused(_("The conversation is closed: reopen it to write."), 409)
        values = [
            request.form.get(f"parameter_{i}", "").strip() for i in range(len(template.parameters))
        ]
        for name, value in zip(template.parameters, values, strict=True):
            if parameter_problem(value):
                raise Refused(_("Fill in {name}: one line, at most 1,024 characters.", name=name))
        details = {
            "author": "agent",
            "template": template_payload(template.name, template.language, values),
            "template_id": template.id,
        }
        text = template_text(template.body, values)
        _send(conn, tenant, conversation, key, "template", text, details, None)

    return _act(tenant, conversation_id, work, key)


@blueprint.post("/t/<slug>/c/<int:conversation_id>/handoff")
@tenant_view()
def handoff(tenant: Tenant, conversation_id: int) -> Response | tuple[str, int, dict[str, str]]:
    """A person takes the conversation: the assistant stays quiet until it is returned."""

    def work(conn: Connection[Any]) -> None:
        conversation = _conversation(conn, tenant, conversation_id, lock=True)
        if conversation.status == ConversationStatus.CLOSED:
            raise Refused(_("The conversation is closed: reopen it first."), 409)
        if hand_off(conn, tenant.id, conversation_id, "taken over by an agent") is not None:
            _audit(conn, tenant, conversation_id, "conversation.handoff")

    return _act(tenant, conversation_id, work)


@blueprint.post("/t/<slug>/c/<int:conversation_id>/return")
@tenant_view()
def return_to_assistant(
    tenant: Tenant, conversation_id: int
) -> Response | tuple[str, int, dict[str, str]]:
    """Back to the assistant; what the customer wrote after the person's last message is
    answered now or left, as the tenant's unanswered_on_return setting says."""

    def work(conn: Connection[Any]) -> None:
        conversation = _conversation(conn, tenant, conversation_id, lock=True)
        if conversation.status == ConversationStatus.CLOSED:
            raise Refused(_("The conversation is closed: reopen it first."), 409)
        returned = return_to_bot(conn, tenant.id, conversation_id)
        if returned is None:
            return
        settings = tenant.typed_settings()
        answering = returned.unanswered > 0 and settings.unanswered_on_return == ON_RETURN_ASSISTANT
        if answering:
            schedule(conn, settings, conversation_id, returned.newest_inbound)
        _audit(
            conn,
            tenant,
            conversation_id,
            "conversation.return",
            {"unanswered": returned.unanswered, "assistant_answers": answering},
        )

    return _act(tenant, conversation_id, work)


@blueprint.post("/t/<slug>/c/<int:conversation_id>/assign")
@tenant_view()
def assign(tenant: Tenant, conversation_id: int) -> Response | tuple[str, int, dict[str, str]]:
    """To one of the tenant's agents or owners (`user_id`, or `me`)."""
    user: User = g.user
    chosen = request.form.get("user_id", "")
    if chosen == "me":
        if user.tenant_id != tenant.id:
            refused = Refused(_("Only the tenant's own people can be assigned."))
            return _refusal(tenant, conversation_id, refused, None)
        user_id: int | None = user.id
    else:
        user_id = _optional_id(chosen)
        if user_id is None:
            abort(400)

    def work(conn: Connection[Any]) -> None:
        conversation = _conversation(conn, tenant, conversation_id, lock=True)
        if user_id not in {u.id for u in users_of_tenant(conn, tenant.id)}:
            abort(404)
        if conversation.assigned_user_id == user_id:
            return
        compose.assign(conn, tenant.id, conversation_id, user_id)
        _audit(conn, tenant, conversation_id, "conversation.assign", {"user_id": user_id})

    return _act(tenant, conversation_id, work)


@blueprint.post("/t/<slug>/c/<int:conversation_id>/unassign")
@tenant_view()
def unassign(tenant: Tenant, conversation_id: int) -> Response | tuple[str, int, dict[str, str]]:
    def work(conn: Connection[Any]) -> None:
        conversation = _conversation(conn, tenant, conversation_id, lock=True)
        if conversation.assigned_user_id is None:
            return
        compose.assign(conn, tenant.id, conversation_id, None)
        _audit(
            conn,
            tenant,
            conversation_id,
            "conversation.unassign",
            {"user_id": conversation.assigned_user_id},
        )

    return _act(tenant, conversation_id, work)


@blueprint.post("/t/<slug>/c/<int:conversation_id>/close")
@tenant_view()
def close(tenant: Tenant, conversation_id: int) -> Response | tuple[str, int, dict[str, str]]:
    def work(conn: Connection[Any]) -> None:
        conversation = _conversation(conn, tenant, conversation_id, lock=True)
        if conversation.status == ConversationStatus.CLOSED:
            return
        compose.close(conn, tenant.id, conversation_id)
        _audit(conn, tenant, conversation_id, "conversation.close", {"was": conversation.status})

    return _act(tenant, conversation_id, work)


@blueprint.post("/t/<slug>/c/<int:conversation_id>/reopen")
@tenant_view()
def reopen(tenant: Tenant, conversation_id: int) -> Response | tuple[str, int, dict[str, str]]:
    """Open again, with the assistant; refused while the contact has another live conversation."""

    def work(conn: Connection[Any]) -> None:
        conversation = _conversation(conn, tenant, conversation_id, lock=True)
        if conversation.status != ConversationStatus.CLOSED:
            return
        other = compose.reopen(conn, tenant.id, conversation_id)
        if other is not None:
            raise Refused(
                _(
                    "This contact has another open conversation (#{other}): continue there.",
                    other=other,
                ),
                409,
            )
        _audit(conn, tenant, conversation_id, "conversation.reopen")

    return _act(tenant, conversation_id, work)


# --- helpers ----------------------------------------------------------------------------------


def _act(
    tenant: Tenant,
    conversation_id: int,
    work: Callable[[Connection[Any]], None],
    key: UUID | None = None,
) -> Response | tuple[str, int, dict[str, str]]:
    try:
        run_transaction(work)
    except Refused as refused:
        return _refusal(tenant, conversation_id, refused, key)
    if not _htmx():
        return redirect(conversation_page(tenant, conversation_id), code=303)
    with transaction() as conn:
        conversation = _conversation(conn, tenant, conversation_id)
        # A fresh key: the draft just sent is done; compose.js empties it.
        page = _render_panel(conn, tenant, conversation, uuid4(), sent=key is not None)
    return page, 200, {PANEL_HEADER: "1"}


def _refusal(
    tenant: Tenant, conversation_id: int, refused: Refused, key: UUID | None
) -> tuple[str, int, dict[str, str]]:
    if not _htmx():
        page = render_template(
            "compose/refused.html",
            message=refused.message,
            back=conversation_page(tenant, conversation_id),
        )
        return page, refused.status, {}
    with transaction() as conn:
        conversation = _conversation(conn, tenant, conversation_id)
        # The same key: the draft was not sent, and posting it again must still send it once.
        page = _render_panel(conn, tenant, conversation, key or uuid4(), error=refused.message)
    return page, refused.status, {PANEL_HEADER: "1"}


def _send(
    conn: Connection[Any],
    tenant: Tenant,
    conversation: ComposerConversation,
    key: UUID,
    kind: str,
    text: str,
    details: dict[str, Any],
    reply_to: str | None,
) -> None:
    """Into the outbox (row and send job, this transaction), and the conversation to a person."""
    user: User = g.user
    message_id = queue_composed(
        conn,
        ComposedMessage(
            tenant_id=tenant.id,
            conversation_id=conversation.id,
            channel=conversation.channel,
            type=kind,
            text=text,
            details=details,
            reply_to=reply_to,
            sent_by_user_id=user.id,
            compose_key=key,
        ),
    )
    if message_id is None:
        return
    # The assistant never talks over a person: its pending replies are withdrawn at send time.
    if conversation.status == ConversationStatus.OPEN:
        hand_off(conn, tenant.id, conversation.id, "an agent replied")
    if conversation.assigned_user_id is None and user.tenant_id == tenant.id:
        compose.assign(conn, tenant.id, conversation.id, user.id)
    _audit(conn, tenant, conversation.id, "message.send", {"message_id": message_id, "type": kind})


def _check_sendable(conn: Connection[Any], conversation: ComposerConversation) -> None:
    if conversation.status == ConversationStatus.CLOSED:
        raise Refused(_("The conversation is closed: reopen it to write."), 409)
    if window_left(conversation.last_inbound_at, database_now(conn)) is None:
        raise Refused(
            _("The customer last wrote over 24 hours ago: only a template can be sent now.")
        )


def _audit(
    conn: Connection[Any],
    tenant: Tenant,
    conversation_id: int,
    action: str,
    details: dict[str, Any] | None = None,
) -> None:
    record_audit(
        conn,
        tenant_id=tenant.id,
        user_id=g.user.id,
        action=action,
        target=f"conversation:{conversation_id}",
        details=details,
    )


def _conversation(
    conn: Connection[Any], tenant: Tenant, conversation_id: int, *, lock: bool = False
) -> ComposerConversation:
    conversation = compose.composer_conversation(conn, tenant.id, conversation_id, lock=lock)
    if conversation is None:
        abort(404)
    return conversation


@dataclass(frozen=True)
class _Window:
    left: timedelta | None
    hours: int
    minutes: int


def _render_panel(
    conn: Connection[Any],
    tenant: Tenant,
    conversation: ComposerConversation,
    key: UUID,
    *,
    error: str | None = None,
    sent: bool = False,
) -> str:
    left = window_left(conversation.last_inbound_at, database_now(conn))
    minutes = int(left.total_seconds() // 60) if left is not None else 0
    business = str((tenant.profile or {}).get("name") or tenant.name)
    values = canned_values(conversation.lead_name, conversation.profile_name, business)
    canned = [(c, fill_canned(c.body, values)) for c in canned_replies(conn, tenant.id)]
    return render_template(
        "compose/panel.html",
        tenant=tenant,
        conversation=conversation,
        key=key,
        error=error,
        sent=sent,
        window=_Window(left, minutes // 60, minutes % 60),
        window_ends=(
            conversation.last_inbound_at + CUSTOMER_SERVICE_WINDOW
            if conversation.last_inbound_at
            else None
        ),
        canned=canned,
        templates=message_templates(conn, tenant.id),
        people=users_of_tenant(conn, tenant.id),
        statuses=ConversationStatus,
        quote_preview=QUOTE_PREVIEW,
    )


def conversation_page(tenant: Tenant, conversation_id: int) -> str:
    """The conversation page (inbox.conversation): the panel's own URL without /composer, as
    the admin pages' URL contract fixes both."""
    panel_url = url_for("compose.panel", slug=tenant.slug, conversation_id=conversation_id)
    return panel_url.removesuffix("/composer")


def _htmx() -> bool:
    return request.headers.get("HX-Request") == "true"


def _parsed_key(raw: str | None) -> UUID | None:
    try:
        return UUID(raw) if raw else None
    except ValueError:
        return None


def _posted_key() -> UUID:
    key = _parsed_key(request.form.get("compose_key"))
    if key is None:
        abort(400)
    return key


def _optional_id(raw: str | None) -> int | None:
    if not raw:
        return None
    if not raw.isdigit() or len(raw) > 18:
        abort(400)
    return int(raw)
