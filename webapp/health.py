"""Liveness, readiness and metrics for load balancers, orchestrators and Prometheus.

/readyz and /metrics cost the same however many rows the tables hold: they read indexed live
subsets, planner estimates and the worker's snapshot of whole-history totals, under a statement
timeout so a slow database never holds a web thread long.
"""

import hmac
import ipaddress
import math
from datetime import timedelta

import redis
from flask import Blueprint, Response, current_app, jsonify, request
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Gauge, generate_latest
from psycopg import Connection

from db import assistant_stats, broker_queue
from db.breakers import breaker_states
from db.dead_letters import unsettled_counts
from db.errors import DatabaseUnavailable, QueryTimedOut
from db.metrics_snapshot import Totals, read_snapshot
from db.overview import outbox, unprocessed_events
from db.pool import limit_statement_time
from domain.models import ReplyOutcome
from domain.settings import Settings
from webapp.db import transaction

blueprint = Blueprint("health", __name__)

STATEMENT_TIME_LIMIT = timedelta(seconds=2)


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
            limit_statement_time(conn, STATEMENT_TIME_LIMIT)
            conn.execute("SELECT 1")
            checks["database"] = "ok"
            broker_queue.probe(conn)
            checks["broker"] = "ok"
    except (DatabaseUnavailable, QueryTimedOut) as error:
        failure = f"unavailable: {type(error.__cause__).__name__}"
        checks.setdefault("database", failure)
        # The database answered but the queue table did not (locked, or past the time limit).
        checks.setdefault("broker", failure if checks["database"] == "ok" else "unknown")
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
    settings: Settings = current_app.extensions["recado.settings"]
    refusal = _refusal(settings.metrics_token)
    if refusal is not None:
        return refusal
    try:
        with transaction() as conn:
            limit_statement_time(conn, STATEMENT_TIME_LIMIT)
            registry = metrics_registry(conn)
    except (DatabaseUnavailable, QueryTimedOut):
        return Response("database unavailable\n", status=503, mimetype="text/plain")
    return Response(generate_latest(registry), mimetype=CONTENT_TYPE_LATEST)


def _refusal(token: str | None) -> Response | None:
    """None when the scraper may read: it shows the token, or no token is set and it is local."""
    if token is None:
        if _is_loopback(request.remote_addr):
            return None
        return Response(
            "/metrics answers other hosts only with RECADO_METRICS_TOKEN set\n",
            status=403,
            mimetype="text/plain",
        )
    scheme, _, presented = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() == "bearer" and hmac.compare_digest(
        presented.strip().encode(), token.encode()
    ):
        return None
    return Response(
        "bearer token required\n",
        status=401,
        mimetype="text/plain",
        headers={"WWW-Authenticate": 'Bearer realm="metrics"'},
    )


def _is_loopback(address: str | None) -> bool:
    try:
        return address is not None and ipaddress.ip_address(address).is_loopback
    except ValueError:
        return False


def metrics_registry(conn: Connection[object]) -> CollectorRegistry:
    registry = CollectorRegistry()
    queue_rows = Gauge(
        "recado_queue_messages",
        "Unfinished broker rows by queue and state (queued, consumed)",
        ["queue", "state"],
        registry=registry,
    )
    for row in broker_queue.unfinished_stats(conn):
        queue_rows.labels(row.queue_name, row.state).set(row.count)
    Gauge(
        "recado_queue_rows_estimate",
        "Broker rows of every state, finished ones included (planner estimate)",
        registry=registry,
    ).set(broker_queue.row_estimate(conn))
    Gauge("recado_advisory_locks", "Advisory locks held (broker in-flight)", registry=registry).set(
        broker_queue.advisory_lock_count(conn)
    )
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
    open_breakers = Gauge(
        "recado_circuit_breakers_open",
        "Tenant channels whose breaker is not closed",
        registry=registry,
    )
    open_breakers.set(sum(1 for row in breaker_states(conn) if row[2] != "closed"))
    Gauge(
        "recado_agent_notifications_open",
        "Agent notifications not yet acknowledged",
        registry=registry,
    ).set(assistant_stats.open_notification_count(conn))
    _llm_usage(conn, registry)
    snapshot = read_snapshot(conn)
    Gauge(
        "recado_metrics_snapshot_age_seconds",
        "Age of the worker's count of whole-history totals (+Inf: no worker has counted yet)",
        registry=registry,
    ).set(math.inf if snapshot is None else snapshot.age_seconds)
    dead = Gauge("recado_dead_letters", "Dead letters by state", ["state"], registry=registry)
    for state, number in unsettled_counts(conn).items():
        dead.labels(state).set(number)
    by_status = Gauge(
        "recado_conversations", "Conversations by status", ["status"], registry=registry
    )
    for status, number in assistant_stats.live_conversations_by_status(conn).items():
        by_status.labels(status).set(number)
    if snapshot is not None:
        _totals(snapshot.totals, registry, dead, by_status)
    return registry


def _llm_usage(conn: Connection[object], registry: CollectorRegistry) -> None:
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


def _totals(totals: Totals, registry: CollectorRegistry, dead: Gauge, by_status: Gauge) -> None:
    """Whole-history totals as of the snapshot, hence gauges (not process counters)."""
    for state, number in totals.settled_dead_letters.items():
        dead.labels(state).set(number)
    by_status.labels("closed").set(totals.closed_conversations)
    Gauge(
        "recado_outbox_resends",
        "Sends repeated after no evidence of acceptance",
        registry=registry,
    ).set(totals.outbox_resends)
    replies = Gauge(
        "recado_replies_total",
        "Planning outcomes recorded, by outcome and answer source",
        ["outcome", "source"],
        registry=registry,
    )
    for outcome, source, number in totals.replies:
        replies.labels(outcome, source).set(number)
    Gauge(
        "recado_replies_stale_total",
        "Replies discarded before sending because a newer message or a person came first",
        registry=registry,
    ).set(sum(number for outcome, _, number in totals.replies if outcome == ReplyOutcome.STALE))
    lookups = Gauge(
        "recado_answer_cache_lookups_total",
        "Answer cache lookups by result",
        ["result"],
        registry=registry,
    )
    for result, number in totals.cache_lookups.items():
        lookups.labels(result).set(number)
    Gauge("recado_handoffs_total", "Conversations handed to a person", registry=registry).set(
        totals.handoffs
    )
