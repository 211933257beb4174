"""Assistant figures for /metrics, across all tenants.

Whole-history counts are read by the metrics snapshot job (db/metrics_snapshot.py); the others
read indexed, live subsets at each scrape.
"""

from decimal import Decimal

from psycopg import Connection
from psycopg.rows import tuple_row

CACHE_RESULTS = ("hit_exact", "hit_semantic", "miss")


def replies_by_outcome(conn: Connection[object]) -> list[tuple[str, str, int]]:
    """(outcome, source, count) of every planning outcome recorded."""
    cur = conn.cursor(row_factory=tuple_row)
    return cur.execute(
        "SELECT outcome, source, count(*) FROM replies GROUP BY outcome, source"
        " ORDER BY outcome, source"
    ).fetchall()


def cache_lookups(conn: Connection[object]) -> dict[str, int]:
    """Answer cache lookups by result; replies that skipped the cache are not lookups."""
    cur = conn.cursor(row_factory=tuple_row)
    rows = cur.execute(
        "SELECT cache_result, count(*) FROM replies WHERE cache_result = ANY(%s)"
        " GROUP BY cache_result",
        (list(CACHE_RESULTS),),
    ).fetchall()
    return {result: 0 for result in CACHE_RESULTS} | dict(rows)


def handoff_count(conn: Connection[object]) -> int:
    cur = conn.cursor(row_factory=tuple_row)
    row = cur.execute("SELECT count(*) FROM agent_notifications WHERE kind = 'handoff'").fetchone()
    assert row is not None
    count: int = row[0]
    return count


def open_notification_count(conn: Connection[object]) -> int:
    cur = conn.cursor(row_factory=tuple_row)
    row = cur.execute(
        "SELECT count(*) FROM agent_notifications WHERE acknowledged_at IS NULL"
    ).fetchone()
    assert row is not None
    count: int = row[0]
    return count


def llm_usage_this_month(conn: Connection[object]) -> tuple[int, int, Decimal]:
    """(prompt tokens, completion tokens, USD) of all tenants in the current UTC month."""
    cur = conn.cursor(row_factory=tuple_row)
    row = cur.execute(
        "SELECT COALESCE(sum(prompt_tokens), 0), COALESCE(sum(completion_tokens), 0),"
        " COALESCE(sum(cost_usd), 0) FROM llm_usage"
        " WHERE month = date_trunc('month', now() AT TIME ZONE 'UTC')::date"
    ).fetchone()
    assert row is not None
    return int(row[0]), int(row[1]), Decimal(row[2])


def live_conversations_by_status(conn: Connection[object]) -> dict[str, int]:
    """Open and handed-off conversations, through the partial index on live ones."""
    cur = conn.cursor(row_factory=tuple_row)
    rows = cur.execute(
        "SELECT status, count(*) FROM conversations WHERE status <> 'closed' GROUP BY status"
    ).fetchall()
    return {"open": 0, "handoff": 0} | dict(rows)


def closed_conversation_count(conn: Connection[object]) -> int:
    cur = conn.cursor(row_factory=tuple_row)
    row = cur.execute("SELECT count(*) FROM conversations WHERE status = 'closed'").fetchone()
    assert row is not None
    count: int = row[0]
    return count
