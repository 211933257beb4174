"""One conversation: header, timeline (paged, live), the assistant's reasoning, lead, notes.

Every fragment is its own GET so htmx can refresh it on a live event: the timeline's tail on
`live:message`, one message's ticks on `live:status`, header and notes on `live:conversation`.
"""

from typing import Any

from flask import abort, current_app, flash, g, redirect, render_template, request, url_for
from werkzeug.wrappers import Response

from db import timeline
from db.tenants import Tenant
from db.users import record_audit
from webapp.admin.access import tenant_view
from webapp.admin.i18n import _
from webapp.db import transaction
from webapp.inbox import blueprint

NOTE_MAX = 4000


def _links(tenant: Tenant, conversation_id: int) -> dict[str, Any]:
    """URLs of endpoints other areas provide, when the app has them."""
    known = current_app.view_functions
    return {
        "trace_enabled": "operations.trace" in known,
        "composer_url": url_for("compose.panel", slug=tenant.slug, conversation_id=conversation_id)
        if "compose.panel" in known
        else None,
    }


@blueprint.get("/t/<slug>/c/<int:conversation_id>")
@tenant_view()
def conversation(tenant: Tenant, conversation_id: int) -> str:
    with transaction() as conn:
        header = timeline.header(conn, tenant.id, conversation_id)
        if header is None:
            abort(404)
        page = timeline.page(conn, tenant.id, conversation_id)
        lead = timeline.lead_panel(conn, tenant.id, conversation_id)
        notes = timeline.notes(conn, tenant.id, conversation_id)
        timeline.mark_read(conn, tenant.id, conversation_id, g.user.id)
    return render_template(
        "inbox/conversation.html",
        tenant=tenant,
        conversation_id=conversation_id,
        header=header,
        page=page,
        lead=lead,
        notes=notes,
        note_max=NOTE_MAX,
        **_links(tenant, conversation_id),
    )


@blueprint.get("/t/<slug>/c/<int:conversation_id>/older/<int:before>")
@tenant_view()
def older(tenant: Tenant, conversation_id: int, before: int) -> str:
    """The page before the message `before`, with its own "older" button on top."""
    with transaction() as conn:
        if timeline.header(conn, tenant.id, conversation_id) is None:
            abort(404)
        page = timeline.page(conn, tenant.id, conversation_id, before=before)
    return render_template(
        "inbox/_page.html",
        tenant=tenant,
        conversation_id=conversation_id,
        page=page,
        **_links(tenant, conversation_id),
    )


@blueprint.get("/t/<slug>/c/<int:conversation_id>/newer")
@tenant_view()
def newer(tenant: Tenant, conversation_id: int) -> str:
    """Messages after the message `?after=` (the live tail; 0: the newest page, for a timeline
    that was empty). The page is open, so they count as read."""
    after = request.args.get("after", 0, type=int)
    with transaction() as conn:
        if timeline.header(conn, tenant.id, conversation_id) is None:
            abort(404)
        if after:
            messages = timeline.after(conn, tenant.id, conversation_id, after)
        else:
            messages = timeline.page(conn, tenant.id, conversation_id).messages
        if messages:
            timeline.mark_read(conn, tenant.id, conversation_id, g.user.id)
    return render_template(
        "inbox/_tail.html",
        tenant=tenant,
        conversation_id=conversation_id,
        messages=messages,
        **_links(tenant, conversation_id),
    )


@blueprint.get("/t/<slug>/c/<int:conversation_id>/messages/<int:message_id>/ticks")
@tenant_view()
def ticks(tenant: Tenant, conversation_id: int, message_id: int) -> str:
    with transaction() as conn:
        message = timeline.message(conn, tenant.id, conversation_id, message_id)
    if message is None or message.direction != "out":
        abort(404)
    return render_template("inbox/_ticks.html", tenant=tenant, m=message)


@blueprint.get("/t/<slug>/c/<int:conversation_id>/header")
@tenant_view()
def header(tenant: Tenant, conversation_id: int) -> str:
    with transaction() as conn:
        found = timeline.header(conn, tenant.id, conversation_id)
    if found is None:
        abort(404)
    return render_template("inbox/_header.html", tenant=tenant, header=found)


@blueprint.get("/t/<slug>/c/<int:conversation_id>/notes")
@tenant_view()
def notes(tenant: Tenant, conversation_id: int) -> str:
    """The list alone: refreshed live without touching a note being written."""
    with transaction() as conn:
        if timeline.header(conn, tenant.id, conversation_id) is None:
            abort(404)
        found = timeline.notes(conn, tenant.id, conversation_id)
    return render_template(
        "inbox/_notes_list.html", tenant=tenant, conversation_id=conversation_id, notes=found
    )


@blueprint.post("/t/<slug>/c/<int:conversation_id>/notes")
@tenant_view()
def add_note(tenant: Tenant, conversation_id: int) -> str | Response:
    body = (request.form.get("body") or "").strip()
    error = None
    if not body:
        error = "empty"
    elif len(body) > NOTE_MAX:
        error = "long"
    with transaction() as conn:
        if timeline.header(conn, tenant.id, conversation_id) is None:
            abort(404)
        if error is None:
            note_id = timeline.add_note(conn, tenant.id, conversation_id, g.user.id, body)
            record_audit(
                conn,
                tenant_id=tenant.id,
                user_id=g.user.id,
                action="conversation.note",
                target=f"conversation:{conversation_id}",
                details={"note_id": note_id},
            )
        found = timeline.notes(conn, tenant.id, conversation_id)
    if not request.headers.get("HX-Request"):
        if error is not None:
            flash(_note_error(error), "error")
        page = url_for("inbox.conversation", slug=tenant.slug, conversation_id=conversation_id)
        return redirect(page + "#notes")
    return render_template(
        "inbox/_notes.html",
        tenant=tenant,
        conversation_id=conversation_id,
        notes=found,
        note_max=NOTE_MAX,
        error=_note_error(error) if error else None,
        draft=body if error else "",
    )


def _note_error(error: str) -> str:
    if error == "empty":
        return _("Write the note first.")
    return _("A note holds at most {limit} characters.", limit=NOTE_MAX)
