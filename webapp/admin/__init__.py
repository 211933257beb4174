"""The admin pages' common ground: CSRF, cookies, language, errors and the signed-in user."""

from flask import Flask, g, render_template, request
from flask_wtf.csrf import CSRFError, CSRFProtect
from werkzeug.exceptions import HTTPException

from db.errors import DatabaseUnavailable, QueryTimedOut
from domain.settings import Settings
from webapp.admin import auth
from webapp.admin.i18n import _, local_time
from webapp.admin.navigation import menu
from webapp.admin.passwords import MIN_LENGTH


def install(app: Flask, settings: Settings) -> CSRFProtect:
    """Set up what every admin page relies on; returns the CSRF guard, whose `exempt` the
    signed webhooks use (they prove themselves by signature, not by a session)."""
    if not settings.secret_key:
        raise ValueError(
            "RECADO_SECRET_KEY is not set: the admin pages sign their session cookies with it"
        )
    secure = (settings.public_url or "").startswith("https://")
    app.config.update(
        SESSION_COOKIE_NAME="recado_session",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=secure,
        # The token lives as long as the session: a form left open all day still posts.
        WTF_CSRF_TIME_LIMIT=None,
        WTF_CSRF_SSL_STRICT=secure,
    )
    csrf = CSRFProtect(app)
    app.jinja_env.globals.update(
        _=_,
        local_time=local_time,
        nav_menu=lambda: menu(g.get("user"), g.get("tenant")),
        password_min_length=MIN_LENGTH,
    )
    app.register_blueprint(auth.blueprint)
    _install_error_pages(app)
    return csrf


def _install_error_pages(app: Flask) -> None:
    @app.errorhandler(CSRFError)
    def csrf_failed(error: CSRFError) -> tuple[str, int]:
        message = _(
            "The form expired or did not come from this site. Reload the page and try again."
        )
        return _error_page(_("Request refused"), message), 400

    @app.errorhandler(DatabaseUnavailable)
    @app.errorhandler(QueryTimedOut)
    def database_down(error: Exception) -> tuple[str, int, dict[str, str]]:
        message = _("The database is not answering. Nothing was changed; try again in a moment.")
        return _error_page(_("Try again shortly"), message), 503, {"Retry-After": "5"}

    @app.errorhandler(404)
    def not_found(error: HTTPException) -> HTTPException | tuple[str, int]:
        if _for_machines():
            return error
        return _error_page(_("Not found"), _("There is nothing here, or not for you.")), 404

    @app.errorhandler(403)
    def forbidden(error: HTTPException) -> HTTPException | tuple[str, int]:
        if _for_machines():
            return error
        return _error_page(_("Not allowed"), _("Your role cannot open this page.")), 403


# Providers and probes get the plain answers they always had, not a page for people.
_MACHINE_PATHS = ("/webhooks/", "/healthz", "/readyz", "/metrics")


def _for_machines() -> bool:
    return request.path.startswith(_MACHINE_PATHS)


def _error_page(title: str, message: str) -> str:
    return render_template("admin/error.html", title=title, message=message)
