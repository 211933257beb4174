"""The answer cache's two backends against the real PostgreSQL and the real Redis.

Redis is not optional here: CI provides one on 127.0.0.1:6379, so a missing Redis fails loudly.
"""

import logging
import math
import os
import random
import socket
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from uuid import uuid4

import psycopg
import pytest
import redis
from psycopg_pool import ConnectionPool

from actors.answer_cache import (
    AnswerCache,
    PostgresAnswerCache,
    RedisAnswerCache,
    make_answer_cache,
)
from db.pool import make_pool
from db.tenants import Tenant, create_tenant
from domain.answer_cache import TTL, CacheHit, TtlClass, scope_key
from domain.settings import Settings

REDIS_URL = "redis://127.0.0.1:6379/0"
MAX_ENTRIES = 5
SIMILARITY = 0.92
DIMENSIONS = 256
SCOPE = scope_key("fingerprint-1", "v1", "es")
QUESTION = "a que hora abren"
ANSWER = "Abrimos de lunes a viernes de 9:00 a 19:00."


def vector(seed: int, dimensions: int = DIMENSIONS) -> list[float]:
    rng = random.Random(seed)
    return [rng.gauss(0.0, 1.0) for _ in range(dimensions)]


def nudged(base: list[float], amount: float, seed: int = 99) -> list[float]:
    """`base` plus `amount` of unrelated noise: the larger `amount`, the less similar."""
    return [b + amount * n for b, n in zip(base, vector(seed, len(base)), strict=True)]


def similarity(a: list[float], b: list[float]) -> float:
    dot = sum(x * y for x, y in zip(a, b, strict=True))
    return dot / (math.sqrt(sum(x * x for x in a)) * math.sqrt(sum(y * y for y in b)))


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def pool(db: psycopg.Connection) -> Iterator[ConnectionPool]:
    connections = make_pool(os.environ["DATABASE_URL"], application_name="recado-tests")
    connections.wait()
    try:
        yield connections
    finally:
        connections.close()


@pytest.fixture
def redis_client() -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(REDIS_URL, socket_timeout=2, socket_connect_timeout=2)
    try:
        client.ping()
    except redis.RedisError as error:
        pytest.fail(
            f"Redis is not reachable at {REDIS_URL} ({error}). The Redis answer cache is tested"
            " against a real Redis, which CI provides; start one (docker compose up redis).",
            pytrace=False,
        )
    try:
        yield client
    finally:
        client.close()


@pytest.fixture
def redis_prefix(redis_client: redis.Redis) -> Iterator[str]:
    """A key prefix no other test (or concurrent run) shares; its keys are deleted afterwards."""
    prefix = f"test:{uuid4().hex}:cache"
    yield prefix
    keys = list(redis_client.scan_iter(match=f"{prefix}:*"))
    if keys:
        redis_client.delete(*keys)


@pytest.fixture(params=["postgres", "redis"])
def cache(request: pytest.FixtureRequest, pool: ConnectionPool) -> AnswerCache:
    if request.param == "postgres":
        return PostgresAnswerCache(pool, max_entries=MAX_ENTRIES, similarity=SIMILARITY)
    return RedisAnswerCache(
        request.getfixturevalue("redis_client"),
        max_entries=MAX_ENTRIES,
        similarity=SIMILARITY,
        key_prefix=request.getfixturevalue("redis_prefix"),
    )


@pytest.fixture
def other_tenant(db: psycopg.Connection) -> Tenant:
    return create_tenant(
        db,
        slug="bolt",
        name="Bolt Garage",
        wa_phone_number_id="106540352242999",
        wa_app_secret="bolt-app-secret",
        wa_verify_token="bolt-verify-token",
        wa_access_token="bolt-access-token",
    )


@pytest.fixture
def now() -> datetime:
    # Real time: Redis expires keys on its own clock, and stats judge expiry by the clock.
    return datetime.now(UTC).replace(microsecond=0)


def store(
    cache: AnswerCache,
    tenant_id: int,
    now: datetime,
    *,
    question: str = QUESTION,
    answer: str = ANSWER,
    ttl_class: TtlClass = TtlClass.FAQ,
    embedding: list[float] | None = None,
    scope: str = SCOPE,
) -> None:
    cache.store(tenant_id, scope, question, answer, ttl_class, embedding, now)


def test_an_empty_cache_misses(cache: AnswerCache, tenant: Tenant, now: datetime) -> None:
    assert cache.lookup_exact(tenant.id, SCOPE, QUESTION, now) is None
    assert cache.lookup_similar(tenant.id, SCOPE, vector(1), now) is None
    assert cache.stats(tenant.id) == []


def test_the_same_question_hits_exactly(cache: AnswerCache, tenant: Tenant, now: datetime) -> None:
    store(cache, tenant.id, now)

    hit = cache.lookup_exact(tenant.id, SCOPE, QUESTION, now + timedelta(minutes=1))

    assert hit == CacheHit(answer=ANSWER, kind="exact", similarity=1.0, ttl_class=TtlClass.FAQ)
    assert cache.lookup_exact(tenant.id, SCOPE, "a que hora cierran", now) is None
    [stats] = cache.stats(tenant.id)
    assert (stats.faq, stats.general, stats.transient, stats.hits) == (1, 0, 0, 1)


def test_a_close_embedding_hits_semantically(
    cache: AnswerCache, tenant: Tenant, now: datetime
) -> None:
    stored = vector(1)
    store(cache, tenant.id, now, embedding=stored)
    store(cache, tenant.id, now, question="cuanto cuesta", answer="800 MXN", embedding=vector(2))
    close = nudged(stored, 0.2)
    assert similarity(stored, close) > SIMILARITY

    hit = cache.lookup_similar(tenant.id, SCOPE, close, now + timedelta(minutes=1))

    assert hit is not None
    assert (hit.answer, hit.kind, hit.ttl_class) == (ANSWER, "semantic", TtlClass.FAQ)
    assert hit.similarity == pytest.approx(similarity(stored, close))
    assert sum(row.hits for row in cache.stats(tenant.id)) == 1


def test_a_distant_embedding_misses(cache: AnswerCache, tenant: Tenant, now: datetime) -> None:
    stored = vector(1)
    store(cache, tenant.id, now, embedding=stored)
    far = nudged(stored, 0.6)
    assert 0.5 < similarity(stored, far) < SIMILARITY

    assert cache.lookup_similar(tenant.id, SCOPE, far, now) is None
    assert cache.stats(tenant.id)[0].hits == 0


def test_embeddings_of_another_dimension_never_match(
    cache: AnswerCache, tenant: Tenant, now: datetime
) -> None:
    store(cache, tenant.id, now, embedding=vector(1, 1536))

    assert cache.lookup_similar(tenant.id, SCOPE, vector(1, DIMENSIONS), now) is None
    assert cache.lookup_similar(tenant.id, SCOPE, vector(1, 1536), now) is not None


def test_an_entry_without_embedding_only_hits_exactly(
    cache: AnswerCache, tenant: Tenant, now: datetime
) -> None:
    store(cache, tenant.id, now, embedding=vector(1))
    store(cache, tenant.id, now, answer="Abrimos a las 9.", embedding=None)

    assert cache.lookup_similar(tenant.id, SCOPE, vector(1), now) is None
    hit = cache.lookup_exact(tenant.id, SCOPE, QUESTION, now)
    assert hit is not None and hit.answer == "Abrimos a las 9."
    assert cache.stats(tenant.id)[0].faq == 1


@pytest.mark.parametrize("ttl_class", list(TtlClass))
def test_entries_expire_with_their_class(
    cache: AnswerCache, tenant: Tenant, now: datetime, ttl_class: TtlClass
) -> None:
    store(cache, tenant.id, now, ttl_class=ttl_class, embedding=vector(1))
    before = now + TTL[ttl_class] - timedelta(seconds=1)
    after = now + TTL[ttl_class] + timedelta(seconds=1)

    assert cache.lookup_exact(tenant.id, SCOPE, QUESTION, before) is not None
    assert cache.lookup_similar(tenant.id, SCOPE, vector(1), before) is not None
    assert cache.lookup_exact(tenant.id, SCOPE, QUESTION, after) is None
    assert cache.lookup_similar(tenant.id, SCOPE, vector(1), after) is None


def test_a_tenant_keeps_at_most_max_entries(
    cache: AnswerCache, tenant: Tenant, now: datetime
) -> None:
    for i in range(MAX_ENTRIES + 5):
        store(
            cache,
            tenant.id,
            now + timedelta(seconds=i),
            question=f"question {i}",
            answer=f"answer {i}",
            embedding=vector(i),
        )
    later = now + timedelta(minutes=1)

    [stats] = cache.stats(tenant.id)
    assert stats.entries + stats.expired == MAX_ENTRIES
    newest = MAX_ENTRIES + 4
    assert cache.lookup_exact(tenant.id, SCOPE, f"question {newest}", later) is not None
    assert cache.lookup_exact(tenant.id, SCOPE, "question 0", later) is None
    assert cache.lookup_similar(tenant.id, SCOPE, vector(0), later) is None
    assert cache.lookup_similar(tenant.id, SCOPE, vector(newest), later) is not None


def test_expired_entries_are_evicted_first(
    cache: AnswerCache, tenant: Tenant, now: datetime
) -> None:
    store(cache, tenant.id, now, question="hola", ttl_class=TtlClass.TRANSIENT)
    later = now + TTL[TtlClass.TRANSIENT] + timedelta(seconds=1)
    for i in range(MAX_ENTRIES):
        store(cache, tenant.id, later, question=f"question {i}", embedding=vector(i))

    for i in range(MAX_ENTRIES):
        assert cache.lookup_exact(tenant.id, SCOPE, f"question {i}", later) is not None
    assert cache.lookup_exact(tenant.id, SCOPE, "hola", now) is None


def test_tenants_never_see_each_other(
    cache: AnswerCache, tenant: Tenant, other_tenant: Tenant, now: datetime
) -> None:
    store(cache, tenant.id, now, embedding=vector(1))

    assert cache.lookup_exact(other_tenant.id, SCOPE, QUESTION, now) is None
    assert cache.lookup_similar(other_tenant.id, SCOPE, vector(1), now) is None
    assert cache.stats(other_tenant.id) == []
    # The other tenant's entries do not count against this tenant's bound either.
    for i in range(MAX_ENTRIES):
        store(cache, other_tenant.id, now, question=f"question {i}")
    assert cache.lookup_exact(tenant.id, SCOPE, QUESTION, now) is not None


def test_a_changed_profile_never_serves_old_answers(
    cache: AnswerCache, tenant: Tenant, now: datetime
) -> None:
    store(cache, tenant.id, now, embedding=vector(1))
    changed = scope_key("fingerprint-2", "v1", "es")

    assert cache.lookup_exact(tenant.id, changed, QUESTION, now) is None
    assert cache.lookup_similar(tenant.id, changed, vector(1), now) is None
    assert (
        cache.lookup_exact(tenant.id, scope_key("fingerprint-1", "v1", "en"), QUESTION, now) is None
    )


def test_clear_one_tenant_then_all(
    cache: AnswerCache, tenant: Tenant, other_tenant: Tenant, now: datetime
) -> None:
    store(cache, tenant.id, now, embedding=vector(1))
    store(cache, tenant.id, now, question="cuanto cuesta", ttl_class=TtlClass.GENERAL)
    store(cache, other_tenant.id, now)

    assert {row.tenant_id: row.entries for row in cache.stats(None)} == {
        tenant.id: 2,
        other_tenant.id: 1,
    }
    assert cache.clear(tenant.id) == 2
    assert cache.lookup_exact(tenant.id, SCOPE, QUESTION, now) is None
    assert cache.lookup_similar(tenant.id, SCOPE, vector(1), now) is None
    assert cache.lookup_exact(other_tenant.id, SCOPE, QUESTION, now) is not None
    assert cache.clear(None) == 1
    assert cache.stats(None) == []
    assert cache.clear(None) == 0


def test_redis_keys_expire_on_their_own(
    redis_client: redis.Redis, redis_prefix: str, pool: ConnectionPool, tenant: Tenant
) -> None:
    cache = RedisAnswerCache(
        redis_client, max_entries=MAX_ENTRIES, similarity=SIMILARITY, key_prefix=redis_prefix
    )
    cache.store(tenant.id, SCOPE, QUESTION, ANSWER, TtlClass.GENERAL, vector(1), datetime.now(UTC))

    keys = set(redis_client.scan_iter(match=f"{redis_prefix}:*"))
    index = f"{redis_prefix}:{tenant.id}:index".encode()
    [entry] = keys - {index}
    assert index in keys
    assert 0 < redis_client.ttl(entry) <= TTL[TtlClass.GENERAL].total_seconds()
    assert 0 < redis_client.ttl(index) <= max(TTL.values()).total_seconds()


def test_a_redis_that_is_down_is_a_quick_miss(
    pool: ConnectionPool, tenant: Tenant, now: datetime, caplog: pytest.LogCaptureFixture
) -> None:
    settings = Settings(
        database_url=os.environ["DATABASE_URL"], redis_url=f"redis://127.0.0.1:{closed_port()}/0"
    )
    cache = make_answer_cache(settings, pool)
    assert isinstance(cache, RedisAnswerCache)

    started = time.monotonic()
    with caplog.at_level(logging.WARNING, logger="actors.answer_cache"):
        assert cache.lookup_exact(tenant.id, SCOPE, QUESTION, now) is None
        assert cache.lookup_similar(tenant.id, SCOPE, vector(1), now) is None
    assert time.monotonic() - started < 1.0

    assert len(caplog.records) == 2
    assert all("treated as a miss" in record.getMessage() for record in caplog.records)
    assert not any(QUESTION in record.getMessage() for record in caplog.records)
    # A store must not pretend it worked: the step that stores retries.
    with pytest.raises(redis.ConnectionError):
        store(cache, tenant.id, now)


def test_without_redis_the_cache_lives_in_postgres(
    pool: ConnectionPool, tenant: Tenant, now: datetime
) -> None:
    cache = make_answer_cache(Settings(database_url=os.environ["DATABASE_URL"]), pool)

    assert isinstance(cache, PostgresAnswerCache)
    store(cache, tenant.id, now)
    assert cache.lookup_exact(tenant.id, SCOPE, QUESTION, now) is not None
