"""The conversation list (skeleton: filled by the inbox work)."""

from flask import render_template

from db.tenants import Tenant
from webapp.admin.access import tenant_view
from webapp.inbox import blueprint


@blueprint.get("/t/<slug>/inbox")
@tenant_view()
def conversations(tenant: Tenant) -> str:
    return render_template("inbox/conversations.html")
