"""The access check of /t/<slug>/live.

webapp/asgi.py runs this route in a thread for every stream request: a 200 names the tenant and
the user, and the stream then runs in the event loop (webapp/live/stream.py); any other answer
(sign-in redirect, 404 for another tenant's user) goes back to the browser as it is. Under a plain
WSGI server this JSON is all the URL answers.
"""

from flask import g, jsonify
from werkzeug.wrappers import Response

from db.tenants import Tenant
from webapp.admin.access import admin_blueprint, tenant_view

blueprint = admin_blueprint("live", __name__)


@blueprint.get("/t/<slug>/live")
@tenant_view()
def stream(tenant: Tenant) -> Response:
    response = jsonify(tenant_id=tenant.id, user_id=g.user.id)
    response.headers["Cache-Control"] = "no-store"
    return response
