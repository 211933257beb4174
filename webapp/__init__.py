"""The Flask app: channel webhooks, health endpoints and the admin pages."""

from flask import Flask

from actors.bootstrap import bootstrap
from domain.settings import Settings

# Meta's envelopes stay far below this; anything larger is refused before it is read.
MAX_BODY_BYTES = 1024 * 1024
# A webhook body arrives in milliseconds; one still arriving after this is a slow client's, refused
# by the server (webapp/asgi.py) before the app sees it.
BODY_SECONDS = 10.0


def create_app(settings: Settings) -> Flask:
    """The app for `settings`, and only them: its own pool, secret key, Sentry and broker."""
    from werkzeug.middleware.proxy_fix import ProxyFix

    from webapp import admin, compose, health, inbox, webhooks
    from webapp.business import views as business_views
    from webapp.live import views as live_views
    from webapp.operations import blueprint as operations_blueprint

    # Short timeout: with the database down a webhook must answer 503 fast so Meta retries.
    runtime = bootstrap(settings, name="recado-web", pool_size=8, pool_timeout=1.5)
    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = MAX_BODY_BYTES
    app.config["SECRET_KEY"] = settings.secret_key
    app.extensions["recado.settings"] = settings
    app.extensions["recado.runtime"] = runtime
    app.extensions["recado.pool"] = runtime.pool()
    csrf = admin.install(app, settings)
    # Signed by the provider, or probes: no session, so no CSRF token to carry.
    csrf.exempt(webhooks.blueprint)
    csrf.exempt(health.blueprint)
    app.register_blueprint(webhooks.blueprint)
    app.register_blueprint(health.blueprint)
    app.register_blueprint(inbox.blueprint)
    app.register_blueprint(compose.blueprint)
    app.register_blueprint(live_views.blueprint)
    app.register_blueprint(operations_blueprint)
    app.register_blueprint(business_views.blueprint)
    if settings.proxy_hops:
        hops = settings.proxy_hops
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops)  # type: ignore[method-assign]
    return app
