"""Assistant figures for /metrics, across all tenants, read at each scrape."""

from decimal import Decimal

from psycopg import Connection
from psycopg.rows import tuple_row

from domain.models import ConversationStatus

CACHE_RESULTS = ("hit_exact", "hit_semantic", "miss")
CONVERSATION_STATUSES = tuple(status.value for status in ConversationStatus)


def replies_by_outcome(conn: Connection) -> list[tuple[str, str, int]]:
    """(outcome, source, count) of every planning outcome recorded."""
    cur = conn.cursor(row_factory=tuple_row)
    return cur.execute(
        "SELECT outcome, source, count(*) FROM replies GROUP BY outcome, source"
        " ORDER BY outcome, source"
    ).fetchall()


def cache_lookups(conn: Connection) -> dict[str, int]:
    """Answer cache lookups by result; replies that skipped the cache are not lookups."""
    cur = conn.cursor(row_factory=tuple_row)
    rows = cur.execute(
        "SELECT cache_result, count(*) FROM replies WHERE cache_result = ANY(%s)"
        " GROUP BY cache_result",
        (list(CACHE_RESULTS),),
    ).fetchall()
    return {result: 0 for result in CACHE_RESULTS} | dict(rows)


def handoff_count(conn: Connection) -> int:
    cur = conn.cursor(row_factory=tuple_row)
    row = cur.execute("SELECT count(*) FROM agent_notifications WHERE kind = 'handoff'").fetchone()
    assert row is not None
    return row[0]


def open_notification_count(conn: Connection) -> int:
    cur = conn.cursor(row_factory=tuple_row)
    row = cur.execute(
        "SELECT count(*) FROM agent_notifications WHERE acknowledged_at IS NULL"
    ).fetchone()
    assert row is not None
    return row[0]


def llm_usage_this_month(conn: Connection) -> tuple[int, int, Decimal]:
    """(prompt tokens, completion tokens, USD) of all tenants in the current UTC month."""
    cur = conn.cursor(row_factory=tuple_row)
    row = cur.execute(
        "SELECT COALESCE(sum(prompt_tokens), 0), COALESCE(sum(completion_tokens), 0),"
        " COALESCE(sum(cost_usd), 0) FROM llm_usage"
        " WHERE month = date_trunc('month', now() AT TIME ZONE 'UTC')::date"
    ).fetchone()
    assert row is not None
    return int(row[0]), int(row[1]), Decimal(row[2])


def conversations_by_status(conn: Connection) -> dict[str, int]:
    cur = conn.cursor(row_factory=tuple_row)
    rows = cur.execute("SELECT status, count(*) FROM conversations GROUP BY status").fetchall()
    return {status: 0 for status in CONVERSATION_STATUSES} | dict(rows)
