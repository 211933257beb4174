"""The run trace of an inbound message: every step that ran for it and what it produced."""

from flask import abort, render_template

from db import operations
from db.step_runs import runs_for_messages
from db.tenants import Tenant
from webapp.admin.access import ROLES_OWNER, tenant_view
from webapp.db import transaction
from webapp.operations.scope import Scope, blueprint, conversation_url


@blueprint.get("/t/<slug>/messages/<int:message_id>/trace")
@tenant_view(ROLES_OWNER)
def trace(tenant: Tenant, message_id: int) -> str:
    with transaction() as conn:
        message = operations.inbound_message(conn, tenant.id, message_id)
        if message is None:
            abort(404)
        replies = operations.replies_through(conn, tenant.id, message.id)
        outbound = [r.outbound.id for r in replies if r.outbound is not None]
        # Its ingest, read receipt and reply planning; the sends and statuses of its replies.
        runs = runs_for_messages(conn, tenant.id, [message.id, *outbound], message.inbound_event_id)
    return render_template(
        "operations/trace.html",
        scope=Scope(tenant, in_url=True),
        message=message,
        replies=replies,
        runs=runs,
        conversation_url=conversation_url(tenant.slug, message.conversation_id),
    )
