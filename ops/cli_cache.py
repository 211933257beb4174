"""`recado cache`: what the answer cache holds per tenant, how often replies came from it, and
clearing it (after a profile fix an operator wants no old answer served, not even until expiry).

The backend is the workers': Redis when REDIS_URL is set, else PostgreSQL.
"""

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import click
import redis
from psycopg import Connection
from psycopg_pool import ConnectionPool

from db.answer_cache import reply_cache_results
from db.tenants import Tenant, list_tenants, tenant_by_slug
from domain.answer_cache import CacheStats, hit_rate
from domain.settings import Settings
from ops.database import database_url
from ops.output import echo, format_table

if TYPE_CHECKING:
    from actors.answer_cache import AnswerCache

REPLIES_WINDOW = timedelta(hours=24)
_RESULTS = ("hit_exact", "hit_semantic", "miss", "skip")


@dataclass(frozen=True)
class _Session:
    cache: "AnswerCache"
    pool: ConnectionPool
    backend: str


@click.group()
def cache() -> None:
    """The answer cache: FAQ-like questions answered without calling the model."""


@cache.command("stats")
@click.option("--tenant", "slug", metavar="SLUG", help="Only this tenant.")
def stats(slug: str | None) -> None:
    """Entries by TTL class and hits per tenant, and replies by cache outcome over 24 h."""
    with _session() as session:
        with session.pool.connection() as conn:
            tenants = _tenants(conn, slug)
            only = tenants[0].id if slug else None
            results = reply_cache_results(conn, only, datetime.now(UTC) - REPLIES_WINDOW)
        with _redis_errors(session):
            entries = {row.tenant_id: row for row in session.cache.stats(only)}

    replies: dict[int, dict[str, int]] = {}
    for result in results:
        replies.setdefault(result.tenant_id, {})[result.cache_result] = result.replies
    echo(f"answer cache in {session.backend}")
    if not tenants:
        echo("  no tenants")
        return
    header = ["TENANT", "FAQ", "GENERAL", "TRANSIENT", "EXPIRED", "HITS"]
    table = [[*header, *(result.upper() for result in _RESULTS), "HIT RATE"]]
    for tenant in tenants:
        cached = entries.get(tenant.id) or CacheStats(tenant.id, 0, 0, 0, 0, 0)
        counts = replies.get(tenant.id, {})
        rate = hit_rate(counts)
        cells = [cached.faq, cached.general, cached.transient, cached.expired, cached.hits]
        cells += [counts.get(result, 0) for result in _RESULTS]
        table.append([tenant.slug, *map(str, cells), f"{rate:.0%}" if rate is not None else "-"])
    echo("\n".join("  " + line for line in format_table(table).splitlines()))
    echo("  HIT_EXACT..SKIP: replies of the last 24 h; HIT RATE: hits / (hits + misses)")


@cache.command("clear")
@click.option("--tenant", "slug", metavar="SLUG", help="Clear this tenant's entries.")
@click.option("--all", "all_tenants", is_flag=True, help="Clear every tenant's entries.")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
def clear(slug: str | None, all_tenants: bool, yes: bool) -> None:
    """Delete cached answers of one tenant (--tenant SLUG) or of all (--all)."""
    if bool(slug) == all_tenants:
        raise click.UsageError("give exactly one of --tenant SLUG or --all")
    with _session() as session:
        if slug:
            with session.pool.connection() as conn:
                tenant_id: int | None = _tenants(conn, slug)[0].id
            whose = f"tenant {slug}"
        else:
            tenant_id, whose = None, "every tenant"
        if not yes:
            click.confirm(f"Delete the cached answers of {whose} in {session.backend}?", abort=True)
        with _redis_errors(session):
            deleted = session.cache.clear(tenant_id)
    echo(f"deleted {deleted} cached answer{'' if deleted == 1 else 's'} of {whose}")


@contextmanager
def _session() -> Iterator[_Session]:
    with database_url() as url:
        from actors.bootstrap import bootstrap

        settings = Settings.from_env({**os.environ, "DATABASE_URL": url})
        runtime = bootstrap(settings, name="recado-cli", pool_size=2, pool_timeout=2.0)
        try:
            backend = (
                f"Redis at {_describe_redis(settings.redis_url)}"
                if settings.redis_url
                else "PostgreSQL"
            )
            yield _Session(runtime.answer_cache(), runtime.pool(), backend)
        finally:
            runtime.close()


@contextmanager
def _redis_errors(session: _Session) -> Iterator[None]:
    try:
        yield
    except redis.RedisError as exc:
        raise click.ClickException(
            f"{session.backend} failed: {exc} (check REDIS_URL and the server)"
        ) from exc


def _tenants(conn: Connection[object], slug: str | None) -> list[Tenant]:
    if slug is None:
        return list_tenants(conn)
    tenant = tenant_by_slug(conn, slug)
    if tenant is None:
        raise click.ClickException(f"no tenant with slug {slug!r}")
    return [tenant]


def _describe_redis(url: str) -> str:
    """host:port/db, without credentials."""
    parts = urlsplit(url)
    return f"{parts.hostname or 'localhost'}:{parts.port or 6379}{parts.path or '/0'}"
