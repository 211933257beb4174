"""The conversation list (skeleton: filled by the inbox work)."""

from flask import render_template

from db.tenants import Tenant
from webapp.admin.access import admin_blueprint, tenant_view

blueprint = admin_blueprint("inbox", __name__)


@blueprint.get("/t/<slug>/inbox")
@tenant_view()
def conversations(tenant: Tenant) -> str:
    return render_template("inbox/conversations.html")
