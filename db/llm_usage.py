"""LLM spend per tenant and calendar month (UTC): read before each call, added after it."""

from datetime import date
from decimal import Decimal

from psycopg import Connection
from psycopg.rows import tuple_row


def month_usage(conn: Connection[object], tenant_id: int, month: date) -> tuple[int, Decimal]:
    """(tokens, USD) used by the tenant in the month starting at `month`."""
    cur = conn.cursor(row_factory=tuple_row)
    row = cur.execute(
        "SELECT prompt_tokens + completion_tokens, cost_usd FROM llm_usage"
        " WHERE tenant_id = %s AND month = %s",
        (tenant_id, month),
    ).fetchone()
    return (0, Decimal(0)) if row is None else (int(row[0]), Decimal(row[1]))


def add_usage(
    conn: Connection[object],
    tenant_id: int,
    month: date,
    *,
    prompt_tokens: int,
    completion_tokens: int,
    cost_usd: Decimal,
) -> None:
    conn.execute(
        """
        INSERT INTO llm_usage (tenant_id, month, calls, prompt_tokens, completion_tokens, cost_usd)
        VALUES (%s, %s, 1, %s, %s, %s)
        ON CONFLICT (tenant_id, month) DO UPDATE SET
            calls = llm_usage.calls + 1,
            prompt_tokens = llm_usage.prompt_tokens + EXCLUDED.prompt_tokens,
            completion_tokens = llm_usage.completion_tokens + EXCLUDED.completion_tokens,
            cost_usd = llm_usage.cost_usd + EXCLUDED.cost_usd
        """,
        (tenant_id, month, prompt_tokens, completion_tokens, cost_usd),
    )
