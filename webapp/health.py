"""Liveness and readiness for load balancers and orchestrators."""

import redis
from flask import Blueprint, Response, current_app, jsonify

from db.broker_queue import stats
from domain.settings import Settings
from webapp.db import UNAVAILABLE, transaction

blueprint = Blueprint("health", __name__)


@blueprint.get("/healthz")
def healthz() -> Response:
    """Alive: answers without touching any dependency."""
    return Response("ok\n", mimetype="text/plain")


@blueprint.get("/readyz")
def readyz() -> tuple[Response, int]:
    """Ready: the database, the broker's queue table and (when configured) Redis answer."""
    settings: Settings = current_app.extensions["recado.settings"]
    checks: dict[str, str] = {}
    try:
        with transaction() as conn:
            conn.execute("SELECT 1")
            checks["database"] = "ok"
            stats(conn)
            checks["broker"] = "ok"
    except UNAVAILABLE as error:
        checks.setdefault("database", f"unavailable: {type(error).__name__}")
        checks.setdefault("broker", "unknown")
    if settings.redis_url:
        try:
            client = redis.Redis.from_url(
                settings.redis_url, socket_timeout=1, socket_connect_timeout=1
            )
            client.ping()
            checks["redis"] = "ok"
        except redis.RedisError as error:
            checks["redis"] = f"unavailable: {type(error).__name__}"
    ready = all(value == "ok" for value in checks.values())
    return jsonify(ready=ready, checks=checks), 200 if ready else 503
