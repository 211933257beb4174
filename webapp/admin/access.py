"""Who is signed in, and which tenant's pages they may see.

The session cookie (signed by Flask, HttpOnly, SameSite=Lax) carries only a random session id; the
session itself is a row (db/users.py), so logout and disabling a user end it at once, and a new id
is issued at every sign-in (no session fixation).

Every tenant page is reached as /t/<slug>/...: `tenant_view` resolves the slug and answers 404
unless the user is the tenant's (or an operator), so a URL of another tenant reveals nothing; the
view receives the Tenant and must scope every query by `tenant.id`.
"""

from collections.abc import Callable
from datetime import timedelta
from functools import wraps
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

from flask import Blueprint, abort, g, redirect, request, session, url_for
from werkzeug.wrappers import Response

from db.tenants import Tenant, tenant_by_id, tenant_by_slug
from db.users import User, create_session, delete_session, session_user
from webapp.admin.i18n import page_language, tenant_zone
from webapp.db import transaction

SESSION_LIFETIME = timedelta(days=14)
ROLES_ALL = ("agent", "owner", "operator")
ROLES_OWNER = ("owner", "operator")
F = TypeVar("F", bound=Callable[..., Any])


def admin_blueprint(name: str, import_name: str, url_prefix: str | None = None) -> Blueprint:
    """A blueprint of admin pages: the signed-in user (or None) is in g.user for every view."""
    blueprint = Blueprint(name, import_name, url_prefix=url_prefix)
    blueprint.before_request(load_user)
    return blueprint


def load_user() -> None:
    g.user = None
    g.tenant = None
    g.zone = ZoneInfo("UTC")
    token = session.get("sid")
    if isinstance(token, str):
        with transaction() as conn:
            g.user = session_user(conn, token)
            own_tenant = (
                tenant_by_id(conn, g.user.tenant_id)
                if g.user is not None and g.user.tenant_id is not None
                else None
            )
        if g.user is None:
            session.clear()
        else:
            _use_tenant(own_tenant)
    g.language = page_language(g.user.language if g.user else None, g.get("tenant"))


def _use_tenant(tenant: Tenant | None) -> None:
    g.tenant = tenant
    g.zone = tenant_zone(tenant)
    g.language = page_language(g.user.language if g.user else None, tenant)


def sign_in(user: User) -> None:
    """A fresh session for `user`: whatever session id the browser held before is dropped."""
    old = session.get("sid")
    session.clear()
    with transaction() as conn:
        if isinstance(old, str):
            delete_session(conn, old)
        session["sid"] = create_session(conn, user.id, SESSION_LIFETIME)
    session.permanent = True


def sign_out() -> None:
    token = session.get("sid")
    session.clear()
    if isinstance(token, str):
        with transaction() as conn:
            delete_session(conn, token)


def _to_login() -> Response:
    target = url_for("auth.login", next=request.full_path.rstrip("?"))
    if request.headers.get("HX-Request"):
        # htmx swaps fragments: tell it to load the sign-in page as a whole page instead.
        response = Response(status=401)
        response.headers["HX-Redirect"] = target
        return response
    return redirect(target)


def signed_in(view: F) -> F:
    """Any signed-in user; the others are sent to the sign-in page."""

    @wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if g.get("user") is None:
            return _to_login()
        return view(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


def tenant_view(roles: tuple[str, ...] = ROLES_ALL) -> Callable[[F], F]:
    """A page of the tenant in the URL's <slug>: the view gets `tenant` instead of `slug`.

    404 for a tenant that is not the user's (or does not exist), 403 for a role not in `roles`.
    """

    def decorate(view: F) -> F:
        @wraps(view)
        def wrapper(*args: Any, slug: str, **kwargs: Any) -> Any:
            user: User | None = g.get("user")
            if user is None:
                return _to_login()
            with transaction() as conn:
                tenant = tenant_by_slug(conn, slug)
            if tenant is None or not (user.is_operator or user.tenant_id == tenant.id):
                abort(404)
            if user.role not in roles:
                abort(403)
            _use_tenant(tenant)
            return view(*args, tenant=tenant, **kwargs)

        return wrapper  # type: ignore[return-value]

    return decorate


def operator_view(view: F) -> F:
    """A page across tenants, for operators only (404 for everyone else)."""

    @wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        user: User | None = g.get("user")
        if user is None:
            return _to_login()
        if not user.is_operator:
            abort(404)
        return view(*args, **kwargs)

    return wrapper  # type: ignore[return-value]
