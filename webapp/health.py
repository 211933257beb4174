"""Liveness and readiness for load balancers and orchestrators."""

import redis
from flask import Blueprint, Response, current_app, jsonify
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Gauge, generate_latest
from psycopg import Connection

from db import assistant_stats
from db.breakers import breaker_states
from db.broker_queue import advisory_lock_count, stats
from db.dead_letters import counts_by_state
from db.errors import DatabaseUnavailable
from db.overview import outbox, unprocessed_events
from domain.models import ReplyOutcome
from domain.settings import Settings
from webapp.db import transaction

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
    except DatabaseUnavailable as error:
        checks.setdefault("database", f"unavailable: {type(error.__cause__).__name__}")
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


@blueprint.get("/metrics")
def metrics() -> Response:
    """Prometheus text format, read from the database at each scrape so every process agrees."""
    try:
        with transaction() as conn:
            registry = snapshot_registry(conn)
    except DatabaseUnavailable:
        return Response("database unavailable\n", status=503, mimetype="text/plain")
    return Response(generate_latest(registry), mimetype=CONTENT_TYPE_LATEST)


def snapshot_registry(conn: Connection) -> CollectorRegistry:
    registry = CollectorRegistry()
    queue_rows = Gauge(
        "recado_queue_messages",
        "Broker rows by queue and state",
        ["queue", "state"],
        registry=registry,
    )
    for row in stats(conn):
        queue_rows.labels(row.queue_name, row.state).set(row.count)
    Gauge("recado_advisory_locks", "Advisory locks held (broker in-flight)", registry=registry).set(
        advisory_lock_count(conn)
    )
    dead = Gauge("recado_dead_letters", "Dead letters by state", ["state"], registry=registry)
    for state, number in counts_by_state(conn).items():
        dead.labels(state).set(number)
    Gauge(
        "recado_inbound_unprocessed", "Stored inbound events not yet processed", registry=registry
    ).set(unprocessed_events(conn).count)
    sending = outbox(conn)
    pending = Gauge(
        "recado_outbox", "Outbound messages not yet accepted", ["state"], registry=registry
    )
    pending.labels("pending").set(sending.pending)
    pending.labels("sending").set(sending.sending)
    pending.labels("awaiting_evidence").set(sending.awaiting_evidence)
    Gauge(
        "recado_outbox_resends",
        "Sends repeated after no evidence of acceptance",
        registry=registry,
    ).set(sending.resends)
    open_breakers = Gauge(
        "recado_circuit_breakers_open",
        "Tenant channels whose breaker is not closed",
        registry=registry,
    )
    open_breakers.set(sum(1 for row in breaker_states(conn) if row[2] != "closed"))
    _assistant_metrics(conn, registry)
    return registry


def _assistant_metrics(conn: Connection, registry: CollectorRegistry) -> None:
    """Totals read from the audit tables at each scrape, hence gauges (not process counters)."""
    replies = Gauge(
        "recado_replies_total",
        "Planning outcomes recorded, by outcome and answer source",
        ["outcome", "source"],
        registry=registry,
    )
    outcomes = assistant_stats.replies_by_outcome(conn)
    for outcome, source, number in outcomes:
        replies.labels(outcome, source).set(number)
    Gauge(
        "recado_replies_stale_total",
        "Replies discarded before sending because a newer message or a person came first",
        registry=registry,
    ).set(sum(number for outcome, _, number in outcomes if outcome == ReplyOutcome.STALE))
    lookups = Gauge(
        "recado_answer_cache_lookups_total",
        "Answer cache lookups by result",
        ["result"],
        registry=registry,
    )
    for result, number in assistant_stats.cache_lookups(conn).items():
        lookups.labels(result).set(number)
    Gauge("recado_handoffs_total", "Conversations handed to a person", registry=registry).set(
        assistant_stats.handoff_count(conn)
    )
    Gauge(
        "recado_agent_notifications_open",
        "Agent notifications not yet acknowledged",
        registry=registry,
    ).set(assistant_stats.open_notification_count(conn))
    prompt, completion, cost = assistant_stats.llm_usage_this_month(conn)
    tokens = Gauge(
        "recado_llm_tokens_month",
        "Model tokens used this UTC month, all tenants",
        ["kind"],
        registry=registry,
    )
    tokens.labels("prompt").set(prompt)
    tokens.labels("completion").set(completion)
    Gauge(
        "recado_llm_cost_usd_month",
        "Estimated model spend in USD this UTC month, all tenants",
        registry=registry,
    ).set(float(cost))
    by_status = Gauge(
        "recado_conversations", "Conversations by status", ["status"], registry=registry
    )
    for status, number in assistant_stats.conversations_by_status(conn).items():
        by_status.labels(status).set(number)
