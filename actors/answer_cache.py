"""Where cached answers live: Redis when REDIS_URL is set, PostgreSQL otherwise.

Both backends keep at most `max_entries` per tenant, never return an entry past its expiry
(judged against the caller's `now`), and count hits. A lookup that cannot reach Redis is a miss,
so a cache outage costs model calls, never replies; a store that fails raises, and the step
that stores retries.
"""

import hashlib
import logging
import math
import struct
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Protocol, cast

import redis
from psycopg_pool import ConnectionPool
from redis.backoff import NoBackoff
from redis.retry import Retry
from redis.typing import EncodableT, FieldT, ZSetRangeResponse

from db.answer_cache import (
    cache_stats,
    clear_entries,
    count_hit,
    evict,
    live_embedded,
    take_exact,
    upsert_entry,
)
from domain.answer_cache import (
    LONGEST_TTL,
    TTL,
    CacheEntry,
    CacheHit,
    CacheStats,
    TtlClass,
    best_similar,
    expiry,
)
from domain.settings import Settings

logger = logging.getLogger(__name__)

KEY_PREFIX = "recado:cache"
# The reply waits on a lookup: a Redis that does not answer within this is a miss.
REDIS_CONNECT_TIMEOUT_S = 0.5
REDIS_TIMEOUT_S = 1.0


class AnswerCache(Protocol):
    def lookup_exact(
        self, tenant_id: int, scope: str, question: str, now: datetime
    ) -> CacheHit | None: ...

    def lookup_similar(
        self, tenant_id: int, scope: str, embedding: Sequence[float], now: datetime
    ) -> CacheHit | None: ...

    def store(
        self,
        tenant_id: int,
        scope: str,
        question: str,
        answer: str,
        ttl_class: TtlClass,
        embedding: Sequence[float] | None,
        now: datetime,
    ) -> None: ...

    def stats(self, tenant_id: int | None) -> list[CacheStats]:
        """Per tenant with entries; all tenants when `tenant_id` is None."""
        ...

    def clear(self, tenant_id: int | None) -> int:
        """Entries deleted: one tenant's, or every tenant's when `tenant_id` is None."""
        ...


class PostgresAnswerCache:
    def __init__(self, pool: ConnectionPool, *, max_entries: int, similarity: float) -> None:
        self._pool = pool
        self._max_entries = max_entries
        self._similarity = similarity

    def lookup_exact(
        self, tenant_id: int, scope: str, question: str, now: datetime
    ) -> CacheHit | None:
        with self._pool.connection() as conn:
            found = take_exact(conn, tenant_id, scope, question, now)
        if found is None:
            return None
        answer, ttl_class = found
        return CacheHit(answer=answer, kind="exact", similarity=1.0, ttl_class=ttl_class)

    def lookup_similar(
        self, tenant_id: int, scope: str, embedding: Sequence[float], now: datetime
    ) -> CacheHit | None:
        with self._pool.connection() as conn:
            entries = live_embedded(conn, tenant_id, scope, len(embedding), now, self._max_entries)
            best = best_similar(embedding, entries, now=now, threshold=self._similarity)
            if best is None:
                return None
            entry, similarity = best
            count_hit(conn, tenant_id, scope, entry.question)
        return CacheHit(
            answer=entry.answer, kind="semantic", similarity=similarity, ttl_class=entry.ttl_class
        )

    def store(
        self,
        tenant_id: int,
        scope: str,
        question: str,
        answer: str,
        ttl_class: TtlClass,
        embedding: Sequence[float] | None,
        now: datetime,
    ) -> None:
        with self._pool.connection() as conn:
            upsert_entry(
                conn,
                tenant_id,
                scope,
                question,
                answer,
                ttl_class,
                embedding,
                created_at=now,
                expires_at=expiry(ttl_class, now),
            )
            evict(conn, tenant_id, now, self._max_entries)

    def stats(self, tenant_id: int | None) -> list[CacheStats]:
        with self._pool.connection() as conn:
            return cache_stats(conn, tenant_id)

    def clear(self, tenant_id: int | None) -> int:
        with self._pool.connection() as conn:
            return clear_entries(conn, tenant_id)


# Counts a hit only on an entry that still exists: HINCRBY on a key Redis has just expired
# would recreate it without a TTL.
_COUNT_HIT = """
if redis.call('EXISTS', KEYS[1]) == 1 then
    return redis.call('HINCRBY', KEYS[1], 'hits', 1)
end
return 0
"""
_FIELDS = ("question", "answer", "ttl_class", "embedding", "created_at", "expires_at", "hits")


class RedisAnswerCache:
    """Entries as hashes expiring with their TTL, `{prefix}:{tenant}:entry:{scope}:{question}`
    (both hashed), indexed per tenant by a sorted set scored by expiry that bounds the tenant's
    entries and every similarity scan to `max_entries`.

    The client must return bytes (redis-py's default), as embeddings are stored packed.
    `key_prefix` lets deployments (and test runs) share one Redis.
    """

    def __init__(
        self,
        client: redis.Redis,
        *,
        max_entries: int,
        similarity: float,
        key_prefix: str = KEY_PREFIX,
    ) -> None:
        self._client = client
        self._max_entries = max_entries
        self._similarity = similarity
        self._prefix = key_prefix
        self._count_hit = client.register_script(_COUNT_HIT)

    def lookup_exact(
        self, tenant_id: int, scope: str, question: str, now: datetime
    ) -> CacheHit | None:
        key = self._entry_key(tenant_id, _member(scope, question))
        try:
            values = _bytes_values(self._client.hmget(key, _FIELDS))
            if values[0] is None:
                return None
            entry = _entry(values)
            if entry.question != question or entry.expires_at <= now:
                return None
            self._count_hit(keys=[key])
        except redis.RedisError as error:
            _lookup_failed(tenant_id, error)
            return None
        return CacheHit(
            answer=entry.answer, kind="exact", similarity=1.0, ttl_class=entry.ttl_class
        )

    def lookup_similar(
        self, tenant_id: int, scope: str, embedding: Sequence[float], now: datetime
    ) -> CacheHit | None:
        tag = _scope_tag(scope) + ":"
        try:
            found = self._client.zrangebyscore(
                self._index_key(tenant_id),
                f"({now.timestamp()}",
                "+inf",
                start=0,
                num=self._max_entries,
            )
            members = [member.decode() for member in _bytes_members(found)]
            mine = [member for member in members if member.startswith(tag)]
            members_of: dict[str, str] = {}
            entries = []
            for member, values in zip(mine, self._fetch(tenant_id, mine), strict=True):
                if values[0] is not None:  # expired by Redis since the index was read
                    entry = _entry(values)
                    members_of[entry.question] = member
                    entries.append(entry)
            best = best_similar(embedding, entries, now=now, threshold=self._similarity)
            if best is None:
                return None
            entry, similarity = best
            self._count_hit(keys=[self._entry_key(tenant_id, members_of[entry.question])])
        except redis.RedisError as error:
            _lookup_failed(tenant_id, error)
            return None
        return CacheHit(
            answer=entry.answer, kind="semantic", similarity=similarity, ttl_class=entry.ttl_class
        )

    def store(
        self,
        tenant_id: int,
        scope: str,
        question: str,
        answer: str,
        ttl_class: TtlClass,
        embedding: Sequence[float] | None,
        now: datetime,
    ) -> None:
        member = _member(scope, question)
        key = self._entry_key(tenant_id, member)
        index = self._index_key(tenant_id)
        expires_at = expiry(ttl_class, now)
        fields: dict[FieldT, EncodableT] = {
            "question": question,
            "answer": answer,
            "ttl_class": str(ttl_class),
            "created_at": now.isoformat(),
            "expires_at": expires_at.isoformat(),
        }
        pipe = self._client.pipeline(transaction=True)
        if embedding is None:
            pipe.hdel(key, "embedding")
        else:
            fields["embedding"] = struct.pack(f"<{len(embedding)}d", *embedding)
        pipe.hset(key, mapping=fields)
        pipe.expire(key, math.ceil(TTL[ttl_class].total_seconds()))
        pipe.zadd(index, {member: expires_at.timestamp()})
        # Every member expires within the longest TTL of the latest store: so does the index.
        pipe.expire(index, math.ceil(LONGEST_TTL.total_seconds()))
        pipe.execute()
        self._evict(tenant_id, now)

    def stats(self, tenant_id: int | None) -> list[CacheStats]:
        now = datetime.now(UTC).timestamp()
        tenants = [tenant_id] if tenant_id is not None else self._tenants()
        result = []
        for tenant in sorted(tenants):
            scored = _scored_members(
                self._client.zrange(self._index_key(tenant), 0, -1, withscores=True)
            )
            if not scored:
                continue
            pipe = self._client.pipeline(transaction=False)
            for member, _ in scored:
                pipe.hmget(self._entry_key(tenant, member.decode()), ("ttl_class", "hits"))
            live = {ttl_class.value: 0 for ttl_class in TtlClass}
            expired = hits = 0
            for (_, expires), (ttl_class, entry_hits) in zip(scored, pipe.execute(), strict=True):
                if expires <= now or ttl_class is None:
                    expired += 1
                else:
                    live[ttl_class.decode()] += 1
                hits += int(entry_hits or 0)
            result.append(CacheStats(tenant_id=tenant, expired=expired, hits=hits, **live))
        return result

    def clear(self, tenant_id: int | None) -> int:
        pattern = f"{self._prefix}:{'*' if tenant_id is None else tenant_id}:*"
        deleted = 0
        batch: list[bytes] = []
        for key in self._client.scan_iter(match=pattern, count=500):
            batch.append(key)
            if len(batch) == 500:
                deleted += self._delete(batch)
                batch = []
        return deleted + self._delete(batch)

    def _delete(self, keys: list[bytes]) -> int:
        """Delete `keys`; how many of them were entries (indexes are not counted)."""
        if not keys:
            return 0
        self._client.delete(*keys)
        return sum(1 for key in keys if b":entry:" in key)

    def _fetch(self, tenant_id: int, members: list[str]) -> list[list[bytes | None]]:
        if not members:
            return []
        pipe = self._client.pipeline(transaction=False)
        for member in members:
            pipe.hmget(self._entry_key(tenant_id, member), _FIELDS)
        return pipe.execute()

    def _evict(self, tenant_id: int, now: datetime) -> None:
        """Drop expired members, then those expiring soonest beyond `max_entries`."""
        index = self._index_key(tenant_id)
        expired = self._client.zrangebyscore(index, "-inf", now.timestamp())
        beyond = self._client.zrange(index, 0, -(self._max_entries + 1))
        victims = {
            member.decode() for member in (*_bytes_members(expired), *_bytes_members(beyond))
        }
        if not victims:
            return
        pipe = self._client.pipeline(transaction=True)
        pipe.zrem(index, *victims)
        pipe.delete(*(self._entry_key(tenant_id, member) for member in victims))
        pipe.execute()

    def _tenants(self) -> list[int]:
        return [
            int(key.decode().removeprefix(self._prefix + ":").split(":", 1)[0])
            for key in self._client.scan_iter(match=f"{self._prefix}:*:index", count=500)
        ]

    def _index_key(self, tenant_id: int) -> str:
        return f"{self._prefix}:{tenant_id}:index"

    def _entry_key(self, tenant_id: int, member: str) -> str:
        return f"{self._prefix}:{tenant_id}:entry:{member}"


def make_answer_cache(settings: Settings, pool: ConnectionPool) -> AnswerCache:
    if settings.redis_url is None:
        return PostgresAnswerCache(
            pool,
            max_entries=settings.answer_cache_max_entries,
            similarity=settings.answer_cache_similarity,
        )
    client = redis.Redis.from_url(
        settings.redis_url,
        socket_connect_timeout=REDIS_CONNECT_TIMEOUT_S,
        socket_timeout=REDIS_TIMEOUT_S,
        # One quick retry covers a pooled connection Redis closed; more would hold the reply.
        retry=Retry(NoBackoff(), 1),
    )
    return RedisAnswerCache(
        client,
        max_entries=settings.answer_cache_max_entries,
        similarity=settings.answer_cache_similarity,
    )


def _member(scope: str, question: str) -> str:
    question_tag = hashlib.sha256(question.encode()).hexdigest()[:32]
    return f"{_scope_tag(scope)}:{question_tag}"


def _scope_tag(scope: str) -> str:
    return hashlib.sha256(scope.encode()).hexdigest()[:16]


# The client returns bytes (decode_responses is off, see make_answer_cache): redis-py types every
# reply as bytes or str whatever the client, so these casts say which one it is.


def _bytes_values(values: list[bytes | str | None]) -> list[bytes | None]:
    return cast(list[bytes | None], values)


def _bytes_members(members: ZSetRangeResponse) -> list[bytes]:
    return cast(list[bytes], members)


def _scored_members(members: ZSetRangeResponse) -> list[tuple[bytes, float]]:
    return cast(list[tuple[bytes, float]], members)


def _entry(values: Sequence[bytes | None]) -> CacheEntry:
    question, answer, ttl_class, embedding, created_at, expires_at, hits = values
    assert question and answer and ttl_class and created_at and expires_at
    return CacheEntry(
        question=question.decode(),
        answer=answer.decode(),
        ttl_class=TtlClass(ttl_class.decode()),
        embedding=struct.unpack(f"<{len(embedding) // 8}d", embedding) if embedding else None,
        created_at=datetime.fromisoformat(created_at.decode()),
        expires_at=datetime.fromisoformat(expires_at.decode()),
        hits=int(hits or 0),
    )


def _lookup_failed(tenant_id: int, error: redis.RedisError) -> None:
    # The error names Redis's address or a command, never the customer's words.
    logger.warning(
        "answer cache lookup failed for tenant %s, treated as a miss: %s: %s",
        tenant_id,
        type(error).__name__,
        error,
    )
