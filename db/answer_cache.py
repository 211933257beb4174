"""The answer cache in PostgreSQL (deployments without Redis), and the replies' cache outcomes.

Every query names its tenant, except the operators' all-tenants stats and clear.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from psycopg import Connection
from psycopg.rows import class_row, tuple_row

from domain.answer_cache import CacheEntry, CacheStats, TtlClass


@dataclass(frozen=True)
class ReplyCacheCount:
    tenant_id: int
    cache_result: str
    replies: int


def take_exact(
    conn: Connection[object], tenant_id: int, scope: str, question: str, now: datetime
) -> tuple[str, TtlClass] | None:
    """The live answer to exactly this question, counting the hit."""
    row = (
        conn.cursor(row_factory=tuple_row)
        .execute(
            """
            UPDATE answer_cache SET hits = hits + 1
            WHERE tenant_id = %s AND scope = %s AND question = %s AND expires_at > %s
            RETURNING answer, ttl_class
            """,
            (tenant_id, scope, question, now),
        )
        .fetchone()
    )
    return (row[0], TtlClass(row[1])) if row else None


def live_embedded(
    conn: Connection[object], tenant_id: int, scope: str, dimensions: int, now: datetime, limit: int
) -> list[CacheEntry]:
    """Live entries of one scope with an embedding of `dimensions`, newest first."""
    rows = (
        conn.cursor(row_factory=tuple_row)
        .execute(
            """
            SELECT question, answer, ttl_class, embedding, created_at, expires_at, hits
            FROM answer_cache
            WHERE tenant_id = %s AND scope = %s AND expires_at > %s
              AND cardinality(embedding) = %s
            ORDER BY created_at DESC, id DESC
            LIMIT %s
            """,
            (tenant_id, scope, now, dimensions, limit),
        )
        .fetchall()
    )
    return [
        CacheEntry(
            question=question,
            answer=answer,
            ttl_class=TtlClass(ttl_class),
            embedding=tuple(embedding),
            created_at=created_at,
            expires_at=expires_at,
            hits=hits,
        )
        for question, answer, ttl_class, embedding, created_at, expires_at, hits in rows
    ]


def count_hit(conn: Connection[object], tenant_id: int, scope: str, question: str) -> None:
    conn.execute(
        "UPDATE answer_cache SET hits = hits + 1"
        " WHERE tenant_id = %s AND scope = %s AND question = %s",
        (tenant_id, scope, question),
    )


def upsert_entry(
    conn: Connection[object],
    tenant_id: int,
    scope: str,
    question: str,
    answer: str,
    ttl_class: TtlClass,
    embedding: Sequence[float] | None,
    created_at: datetime,
    expires_at: datetime,
) -> None:
    conn.execute(
        """
        INSERT INTO answer_cache
            (tenant_id, scope, question, answer, ttl_class, embedding, created_at, expires_at)
        VALUES (%s, %s, %s, %s, %s, %s::double precision[], %s, %s)
        ON CONFLICT (tenant_id, scope, question) DO UPDATE SET
            answer = excluded.answer, ttl_class = excluded.ttl_class,
            embedding = excluded.embedding, created_at = excluded.created_at,
            expires_at = excluded.expires_at
        """,
        (
            tenant_id,
            scope,
            question,
            answer,
            str(ttl_class),
            list(embedding) if embedding is not None else None,
            created_at,
            expires_at,
        ),
    )


def evict(conn: Connection[object], tenant_id: int, now: datetime, max_entries: int) -> int:
    """Drop the tenant's expired entries, then its oldest beyond `max_entries`; rows deleted."""
    expired = conn.execute(
        "DELETE FROM answer_cache WHERE tenant_id = %s AND expires_at <= %s", (tenant_id, now)
    ).rowcount
    overflow = conn.execute(
        """
        DELETE FROM answer_cache WHERE id IN (
            SELECT id FROM answer_cache WHERE tenant_id = %s
            ORDER BY created_at DESC, id DESC
            OFFSET %s
        )
        """,
        (tenant_id, max_entries),
    ).rowcount
    return expired + overflow


def cache_stats(conn: Connection[object], tenant_id: int | None) -> list[CacheStats]:
    """Per tenant with entries (one tenant, or all of them when `tenant_id` is None)."""
    return (
        conn.cursor(row_factory=class_row(CacheStats))
        .execute(
            """
            SELECT tenant_id,
                count(*) FILTER (WHERE ttl_class = 'faq' AND expires_at > now()) AS faq,
                count(*) FILTER (WHERE ttl_class = 'general' AND expires_at > now()) AS general,
                count(*) FILTER (WHERE ttl_class = 'transient' AND expires_at > now())
                    AS transient,
                count(*) FILTER (WHERE expires_at <= now()) AS expired,
                coalesce(sum(hits), 0) AS hits
            FROM answer_cache
            WHERE %(tenant_id)s::bigint IS NULL OR tenant_id = %(tenant_id)s
            GROUP BY tenant_id
            ORDER BY tenant_id
            """,
            {"tenant_id": tenant_id},
        )
        .fetchall()
    )


def clear_entries(conn: Connection[object], tenant_id: int | None) -> int:
    """Delete one tenant's entries, or every tenant's when `tenant_id` is None; rows deleted."""
    return conn.execute(
        "DELETE FROM answer_cache WHERE %(tenant_id)s::bigint IS NULL OR tenant_id = %(tenant_id)s",
        {"tenant_id": tenant_id},
    ).rowcount


def reply_cache_results(
    conn: Connection[object], tenant_id: int | None, since: datetime
) -> list[ReplyCacheCount]:
    """Replies planned since `since`, by tenant and cache outcome (replies with none left out)."""
    return (
        conn.cursor(row_factory=class_row(ReplyCacheCount))
        .execute(
            """
            SELECT tenant_id, cache_result, count(*) AS replies
            FROM replies
            WHERE created_at >= %(since)s AND cache_result IS NOT NULL
              AND (%(tenant_id)s::bigint IS NULL OR tenant_id = %(tenant_id)s)
            GROUP BY tenant_id, cache_result
            ORDER BY tenant_id, cache_result
            """,
            {"since": since, "tenant_id": tenant_id},
        )
        .fetchall()
    )
