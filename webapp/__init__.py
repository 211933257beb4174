"""The Flask app: channel webhooks, health endpoints (admin pages come later)."""

from flask import Flask

from db.pool import make_pool
from domain.settings import Settings

# Meta's envelopes stay far below this; anything larger is refused before it is read.
MAX_BODY_BYTES = 1024 * 1024
# A webhook body arrives in milliseconds; one still arriving after this is a slow client's, refused
# by the server (webapp/asgi.py) before the app sees it.
BODY_SECONDS = 10.0


def create_app(settings: Settings) -> Flask:
    # Importing actors installs Sentry (Flask integration included) and the broker whose
    # messages the webhooks write.
    import actors  # noqa: F401
    from webapp import health, webhooks

    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = MAX_BODY_BYTES
    app.config["SECRET_KEY"] = settings.secret_key
    app.extensions["recado.settings"] = settings
    # Short timeout: with the database down a webhook must answer 503 fast so Meta retries.
    app.extensions["recado.pool"] = make_pool(
        settings.database_url, application_name="recado-web", max_size=8, timeout=1.5
    )
    app.register_blueprint(webhooks.blueprint)
    app.register_blueprint(health.blueprint)
    return app
