"""`recado cache stats|clear` against the suite's real PostgreSQL, and the real Redis when
REDIS_URL is set."""

import os
import socket
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from uuid import uuid4

import psycopg
import pytest
import redis
from click.testing import CliRunner, Result
from psycopg_pool import ConnectionPool

from actors.answer_cache import PostgresAnswerCache, RedisAnswerCache
from db.pool import make_pool
from db.tenants import Tenant, create_tenant
from domain.answer_cache import TtlClass, scope_key
from ops.cli import main

REDIS_URL = "redis://127.0.0.1:6379/0"
SCOPE = scope_key("fingerprint", "v1", "es")
POSTGRES = {"REDIS_URL": ""}


def recado(*args: str, env: dict[str, str] | None = None, input: str | None = None) -> Result:
    return CliRunner().invoke(main, list(args), env=env, input=input, catch_exceptions=False)


@pytest.fixture
def pool(db: psycopg.Connection) -> Iterator[ConnectionPool]:
    connections = make_pool(os.environ["DATABASE_URL"], application_name="recado-tests")
    try:
        yield connections
    finally:
        connections.close()


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


def fill(cache: PostgresAnswerCache | RedisAnswerCache, tenant_id: int) -> None:
    """Two FAQ answers, one price answer (hit twice) and one greeting."""
    now = datetime.now(UTC)
    for question, ttl_class in [
        ("a que hora abren", TtlClass.FAQ),
        ("donde estan", TtlClass.FAQ),
        ("cuanto cuesta una limpieza", TtlClass.GENERAL),
        ("hola", TtlClass.TRANSIENT),
    ]:
        cache.store(tenant_id, SCOPE, question, "...", ttl_class, None, now)
    for _ in range(2):
        assert cache.lookup_exact(tenant_id, SCOPE, "cuanto cuesta una limpieza", now)


def add_replies(
    db: psycopg.Connection, tenant: Tenant, results: list[str], age: timedelta = timedelta(0)
) -> None:
    """Replies with these cache outcomes, `age` old, each answering its own message, in a
    conversation with a new contact."""
    contact_id = db.execute(
        "INSERT INTO contacts (tenant_id, channel, channel_user_id) VALUES (%s, 'whatsapp', %s)"
        " RETURNING id",
        (tenant.id, uuid4().hex),
    ).fetchone()[0]
    conversation_id = db.execute(
        "INSERT INTO conversations (tenant_id, contact_id, channel) VALUES (%s, %s, 'whatsapp')"
        " RETURNING id",
        (tenant.id, contact_id),
    ).fetchone()[0]
    for result in results:
        message_id = db.execute(
            "INSERT INTO messages (tenant_id, conversation_id, channel, direction, type, text)"
            " VALUES (%s, %s, 'whatsapp', 'in', 'text', 'hola') RETURNING id",
            (tenant.id, conversation_id),
        ).fetchone()[0]
        db.execute(
            "INSERT INTO replies (tenant_id, conversation_id, through_message_id, outcome, source,"
            " cache_result, created_at) VALUES (%s, %s, %s, 'queued', 'llm', %s, now() - %s)",
            (tenant.id, conversation_id, message_id, result, age),
        )


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def table_row(output: str, slug: str) -> list[str]:
    [line] = [line for line in output.splitlines() if line.split()[:1] == [slug]]
    return line.split()


def test_stats_per_tenant_with_replies_of_the_last_day(
    db: psycopg.Connection, pool: ConnectionPool, tenant: Tenant, other_tenant: Tenant
) -> None:
    fill(PostgresAnswerCache(pool, max_entries=100, similarity=0.9), tenant.id)
    add_replies(db, tenant, ["hit_exact", "hit_exact", "hit_semantic", "miss", "skip", "skip"])
    add_replies(db, tenant, ["miss", "miss"], age=timedelta(hours=25))  # outside the window

    result = recado("cache", "stats", env=POSTGRES)

    assert result.exit_code == 0, result.output
    assert "answer cache in PostgreSQL" in result.output
    header = result.output.splitlines()[1].split()
    assert header[:6] == ["TENANT", "FAQ", "GENERAL", "TRANSIENT", "EXPIRED", "HITS"]
    # faq general transient expired hits | hit_exact hit_semantic miss skip | hit rate
    assert table_row(result.output, "acme") == [
        *("acme", "2", "1", "1", "0", "2"),
        *("2", "1", "1", "2"),
        "75%",
    ]
    assert table_row(result.output, "bolt") == ["bolt", *["0"] * 9, "-"]


def test_stats_of_one_tenant(pool: ConnectionPool, tenant: Tenant, other_tenant: Tenant) -> None:
    fill(PostgresAnswerCache(pool, max_entries=100, similarity=0.9), other_tenant.id)

    result = recado("cache", "stats", "--tenant", "bolt", env=POSTGRES)

    assert result.exit_code == 0, result.output
    assert table_row(result.output, "bolt")[:6] == ["bolt", "2", "1", "1", "0", "2"]
    assert "acme" not in result.output


def test_stats_of_an_unknown_tenant_fails(tenant: Tenant) -> None:
    result = recado("cache", "stats", "--tenant", "nope", env=POSTGRES)

    assert result.exit_code == 1
    assert "no tenant with slug 'nope'" in result.output


def test_clear_one_tenant_asks_first(
    pool: ConnectionPool, tenant: Tenant, other_tenant: Tenant
) -> None:
    cache = PostgresAnswerCache(pool, max_entries=100, similarity=0.9)
    fill(cache, tenant.id)
    fill(cache, other_tenant.id)

    declined = recado("cache", "clear", "--tenant", "acme", env=POSTGRES, input="n\n")
    assert declined.exit_code == 1
    assert "Aborted" in declined.output
    assert {row.tenant_id: row.entries for row in cache.stats(None)} == {
        tenant.id: 4,
        other_tenant.id: 4,
    }

    confirmed = recado("cache", "clear", "--tenant", "acme", env=POSTGRES, input="y\n")
    assert confirmed.exit_code == 0, confirmed.output
    assert "Delete the cached answers of tenant acme in PostgreSQL?" in confirmed.output
    assert "deleted 4 cached answers of tenant acme" in confirmed.output
    assert [row.tenant_id for row in cache.stats(None)] == [other_tenant.id]


def test_clear_all_with_yes(pool: ConnectionPool, tenant: Tenant, other_tenant: Tenant) -> None:
    cache = PostgresAnswerCache(pool, max_entries=100, similarity=0.9)
    fill(cache, tenant.id)
    fill(cache, other_tenant.id)

    result = recado("cache", "clear", "--all", "--yes", env=POSTGRES)

    assert result.exit_code == 0, result.output
    assert "deleted 8 cached answers of every tenant" in result.output
    assert cache.stats(None) == []


@pytest.mark.parametrize("args", [[], ["--tenant", "acme", "--all"]], ids=["neither", "both"])
def test_clear_needs_exactly_one_target(tenant: Tenant, args: list[str]) -> None:
    result = recado("cache", "clear", "--yes", *args, env=POSTGRES)

    assert result.exit_code == 2
    assert "exactly one of --tenant SLUG or --all" in result.output


@pytest.fixture
def redis_cache(db: psycopg.Connection, tenant: Tenant) -> Iterator[RedisAnswerCache]:
    """The workers' own keys (the CLI has no other prefix); this tenant's are deleted after."""
    client = redis.Redis.from_url(REDIS_URL, socket_timeout=2, socket_connect_timeout=2)
    try:
        client.ping()
    except redis.RedisError as error:
        pytest.fail(
            f"Redis is not reachable at {REDIS_URL} ({error}). CI provides one; start one"
            " (docker compose up redis) to run these.",
            pytrace=False,
        )
    cache = RedisAnswerCache(client, max_entries=100, similarity=0.9)
    cache.clear(tenant.id)
    try:
        yield cache
    finally:
        cache.clear(tenant.id)
        client.close()


def test_stats_and_clear_in_redis(tenant: Tenant, redis_cache: RedisAnswerCache) -> None:
    fill(redis_cache, tenant.id)
    env = {"REDIS_URL": REDIS_URL}

    stats = recado("cache", "stats", "--tenant", "acme", env=env)
    cleared = recado("cache", "clear", "--tenant", "acme", "--yes", env=env)

    assert stats.exit_code == 0, stats.output
    assert "answer cache in Redis at 127.0.0.1:6379/0" in stats.output
    assert table_row(stats.output, "acme")[:6] == ["acme", "2", "1", "1", "0", "2"]
    assert cleared.exit_code == 0, cleared.output
    assert "deleted 4 cached answers of tenant acme" in cleared.output
    assert redis_cache.stats(tenant.id) == []


def test_a_redis_that_is_down_is_named(tenant: Tenant) -> None:
    port = closed_port()
    result = recado("cache", "stats", env={"REDIS_URL": f"redis://:secret@127.0.0.1:{port}/0"})

    assert result.exit_code == 1
    assert f"Redis at 127.0.0.1:{port}/0 failed" in result.output
    assert "secret" not in result.output
