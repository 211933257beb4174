"""The owners' pages that feed the composer: canned replies, and the templates Meta approved."""

from typing import Any

from flask import abort, g, redirect, render_template, request, url_for
from werkzeug.wrappers import Response

from db import canned_replies as canned_db
from db.message_templates import (
    create_message_template,
    delete_message_template,
    message_templates,
)
from db.tenants import Tenant
from db.users import record_audit
from domain.compose import CANNED_VARIABLES, template_problem
from webapp.admin.access import ROLES_OWNER, tenant_view
from webapp.admin.i18n import _
from webapp.compose.blueprint import blueprint
from webapp.db import transaction

MAX_TITLE = 80
MAX_BODY = 4096
Page = str | tuple[str, int]


# --- canned replies ---------------------------------------------------------------------------


@blueprint.get("/t/<slug>/canned-replies")
@tenant_view(ROLES_OWNER)
def canned_replies(tenant: Tenant) -> str:
    return _canned_page(tenant)


@blueprint.post("/t/<slug>/canned-replies")
@tenant_view(ROLES_OWNER)
def create_canned(tenant: Tenant) -> Response | Page:
    title, body = _canned_form()
    problem = _canned_problem(title, body)
    if problem is not None:
        return _canned_page(tenant, problem, title, body), 400
    with transaction() as conn:
        reply_id = canned_db.create_canned_reply(conn, tenant.id, title, body)
        if reply_id is not None:
            _audit(conn, tenant, "canned_reply.create", f"canned_reply:{reply_id}", title)
    if reply_id is None:
        error = _("There is a canned reply with this title already.")
        return _canned_page(tenant, error, title, body), 400
    return redirect(url_for("compose.canned_replies", slug=tenant.slug), code=303)


@blueprint.get("/t/<slug>/canned-replies/<int:reply_id>")
@tenant_view(ROLES_OWNER)
def canned_reply(tenant: Tenant, reply_id: int) -> str:
    with transaction() as conn:
        reply = canned_db.canned_reply(conn, tenant.id, reply_id)
    if reply is None:
        abort(404)
    return render_template(
        "compose/canned_reply.html", reply=reply, title=reply.title, body=reply.body, error=None,
        variables=CANNED_VARIABLES,
    )  # fmt: skip


@blueprint.post("/t/<slug>/canned-replies/<int:reply_id>")
@tenant_view(ROLES_OWNER)
def update_canned(tenant: Tenant, reply_id: int) -> Response | Page:
    title, body = _canned_form()
    with transaction() as conn:
        reply = canned_db.canned_reply(conn, tenant.id, reply_id)
        if reply is None:
            abort(404)
        problem = _canned_problem(title, body)
        if problem is None and not canned_db.update_canned_reply(
            conn, tenant.id, reply_id, title, body
        ):
            problem = _("There is a canned reply with this title already.")
        if problem is None:
            _audit(conn, tenant, "canned_reply.update", f"canned_reply:{reply_id}", title)
    if problem is not None:
        page = render_template(
            "compose/canned_reply.html", reply=reply, title=title, body=body, error=problem,
            variables=CANNED_VARIABLES,
        )  # fmt: skip
        return page, 400
    return redirect(url_for("compose.canned_replies", slug=tenant.slug), code=303)


@blueprint.post("/t/<slug>/canned-replies/<int:reply_id>/delete")
@tenant_view(ROLES_OWNER)
def delete_canned(tenant: Tenant, reply_id: int) -> Response:
    with transaction() as conn:
        reply = canned_db.canned_reply(conn, tenant.id, reply_id)
        if reply is None:
            abort(404)
        canned_db.delete_canned_reply(conn, tenant.id, reply_id)
        _audit(conn, tenant, "canned_reply.delete", f"canned_reply:{reply_id}", reply.title)
    return redirect(url_for("compose.canned_replies", slug=tenant.slug), code=303)


def _canned_form() -> tuple[str, str]:
    return request.form.get("title", "").strip(), request.form.get("body", "").strip()


def _canned_problem(title: str, body: str) -> str | None:
    if not 1 <= len(title) <= MAX_TITLE:
        return _("The title takes 1 to {limit} characters.", limit=MAX_TITLE)
    if not 1 <= len(body) <= MAX_BODY:
        return _("The text takes 1 to {limit} characters.", limit=MAX_BODY)
    return None


def _canned_page(tenant: Tenant, error: str | None = None, title: str = "", body: str = "") -> str:
    with transaction() as conn:
        replies = canned_db.canned_replies(conn, tenant.id)
    return render_template(
        "compose/canned_replies.html", replies=replies, error=error, title=title, body=body,
        variables=CANNED_VARIABLES,
    )  # fmt: skip


# --- approved templates -----------------------------------------------------------------------


@blueprint.get("/t/<slug>/templates")
@tenant_view(ROLES_OWNER)
def templates(tenant: Tenant) -> str:
    return _templates_page(tenant, {})


@blueprint.post("/t/<slug>/templates")
@tenant_view(ROLES_OWNER)
def create_template(tenant: Tenant) -> Response | Page:
    form = {key: request.form.get(key, "").strip() for key in ("name", "language", "body")}
    form["parameters"] = request.form.get("parameters", "")
    parameters = [line.strip() for line in form["parameters"].splitlines() if line.strip()]
    problem = template_problem(form["name"], form["language"], form["body"], parameters)
    if problem is not None:
        return _templates_page(tenant, form, _TEMPLATE_PROBLEMS[problem]()), 400
    with transaction() as conn:
        template_id = create_message_template(
            conn,
            tenant.id,
            name=form["name"],
            language=form["language"],
            body=form["body"],
            parameters=parameters,
        )
        if template_id is not None:
            details = f"{form['name']} ({form['language']})"
            _audit(conn, tenant, "template.create", f"message_template:{template_id}", details)
    if template_id is None:
        error = _("This template is there already in this language.")
        return _templates_page(tenant, form, error), 400
    return redirect(url_for("compose.templates", slug=tenant.slug), code=303)


@blueprint.post("/t/<slug>/templates/<int:template_id>/delete")
@tenant_view(ROLES_OWNER)
def delete_template(tenant: Tenant, template_id: int) -> Response:
    with transaction() as conn:
        if not delete_message_template(conn, tenant.id, template_id):
            abort(404)
        _audit(conn, tenant, "template.delete", f"message_template:{template_id}", None)
    return redirect(url_for("compose.templates", slug=tenant.slug), code=303)


# Functions: the texts are translated in the request's language, when a problem is shown.
_TEMPLATE_PROBLEMS = {
    "name": lambda: _("The name is Meta's: lowercase letters, digits and _ only."),
    "language": lambda: _("The language is a code such as es, en_US or pt_BR."),
    "body": lambda: _("The text takes 1 to 1,024 characters."),
    "placeholders": lambda: _("Number the placeholders {{1}}, {{2}}... from 1, none skipped."),
    "parameters": lambda: _("Name each placeholder, one name per line, in order."),
}


def _templates_page(tenant: Tenant, form: dict[str, str], error: str | None = None) -> str:
    with transaction() as conn:
        rows = message_templates(conn, tenant.id)
    return render_template("compose/templates.html", templates=rows, form=form, error=error)


def _audit(conn: Any, tenant: Tenant, action: str, target: str, what: str | None) -> None:
    record_audit(
        conn,
        tenant_id=tenant.id,
        user_id=g.user.id,
        action=action,
        target=target,
        details={"name": what} if what else None,
    )
