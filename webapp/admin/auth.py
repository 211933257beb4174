"""Sign in, sign out, set a password through a one-time link, choose the page language."""

from datetime import timedelta
from urllib.parse import urlsplit

from flask import abort, g, redirect, render_template, request, url_for
from werkzeug.wrappers import Response

from db.tenants import tenant_by_id
from db.users import (
    clear_login_failures,
    login_failures_since,
    password_hash_of,
    password_link_user,
    record_login_failure,
    set_language,
    use_password_link,
    user_by_email,
)
from webapp.admin.access import admin_blueprint, sign_in, sign_out, signed_in
from webapp.admin.i18n import UI_LANGUAGES, _
from webapp.admin.passwords import hash_password, password_matches, password_problem
from webapp.db import transaction

blueprint = admin_blueprint("auth", __name__)

# Guessing is slowed per account and per address; a person who mistypes a few times is not.
FAILURE_WINDOW = timedelta(minutes=15)
MAX_FAILURES_PER_ACCOUNT = 5
MAX_FAILURES_PER_ADDRESS = 30


def _safe_next(target: str | None) -> str | None:
    """A path on this site only: `next` must never send a signed-in user elsewhere."""
    if not target:
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return None
    return target


def home_of(user_tenant_slug: str | None) -> str:
    if user_tenant_slug is None:
        return url_for("operations.overview")
    return url_for("inbox.conversations", slug=user_tenant_slug)


def _home() -> str:
    user = g.user
    if user.is_operator:
        return home_of(None)
    with transaction() as conn:
        tenant = tenant_by_id(conn, user.tenant_id)
    if tenant is None:
        abort(404)
    return home_of(tenant.slug)


@blueprint.get("/")
@signed_in
def index() -> Response:
    return redirect(_home())


@blueprint.route("/login", methods=["GET", "POST"])
def login() -> Response | str | tuple[str, int]:
    next_page = _safe_next(request.values.get("next"))
    if request.method == "GET":
        if g.user is not None:
            return redirect(next_page or _home())
        return render_template("admin/login.html", next=next_page, email="", error=None)
    email = request.form.get("email", "").strip()[:320]
    password = request.form.get("password", "")
    address = request.remote_addr or "unknown"
    with transaction() as conn:
        per_account, per_address = login_failures_since(conn, email, address, FAILURE_WINDOW)
        if per_account >= MAX_FAILURES_PER_ACCOUNT or per_address >= MAX_FAILURES_PER_ADDRESS:
            error = _("Too many failed attempts. Wait 15 minutes and try again.")
            page = render_template("admin/login.html", next=next_page, email=email, error=error)
            return page, 429
        user = user_by_email(conn, email) if email else None
        stored = password_hash_of(conn, user.id) if user is not None else None
        if not password_matches(stored, password):
            record_login_failure(conn, email, address)
            error = _("Wrong email or password.")
            page = render_template("admin/login.html", next=next_page, email=email, error=error)
            return page, 401
        clear_login_failures(conn, email)
    assert user is not None
    sign_in(user)
    g.user = user
    return redirect(next_page or _home())


@blueprint.post("/logout")
def logout() -> Response:
    sign_out()
    return redirect(url_for("auth.login"))


@blueprint.route("/set-password/<token>", methods=["GET", "POST"])
def set_password(token: str) -> Response | str | tuple[str, int]:
    with transaction() as conn:
        user = password_link_user(conn, token)
    if user is None:
        page = render_template("admin/link_used.html")
        return page, 404
    if request.method == "GET":
        return render_template("admin/set_password.html", user=user, error=None)
    password = request.form.get("password", "")
    problem = password_problem(password, request.form.get("confirmation", ""))
    if problem is not None:
        return render_template("admin/set_password.html", user=user, error=_(problem)), 400
    with transaction() as conn:
        updated = use_password_link(conn, token, hash_password(password))
    if updated is None:
        return render_template("admin/link_used.html"), 404
    sign_in(updated)
    g.user = updated
    return redirect(_home())


@blueprint.post("/language")
@signed_in
def language() -> Response:
    chosen = request.form.get("language")
    if chosen not in UI_LANGUAGES:
        abort(400)
    with transaction() as conn:
        set_language(conn, g.user.id, chosen)
    return redirect(_safe_next(request.form.get("next")) or _home())
