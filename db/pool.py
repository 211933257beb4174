"""psycopg 3 connection pools for the web app, the workers and the CLI."""

from datetime import timedelta
from typing import TypedDict

import psycopg
from psycopg import Connection
from psycopg.conninfo import conninfo_to_dict
from psycopg.rows import DictRow, dict_row
from psycopg_pool import ConnectionPool

# Every session runs in UTC so timestamps written with NOW() AT TIME ZONE 'UTC' are right.
SESSION_OPTIONS = "-c TimeZone=UTC"


class ConnectKwargs(TypedDict):
    """libpq parameters of every connection; typed so they can be spread into `connect`."""

    options: str
    application_name: str
    connect_timeout: int
    keepalives: int
    keepalives_idle: int
    keepalives_interval: int
    keepalives_count: int
    tcp_user_timeout: int


def connect_kwargs(application_name: str) -> ConnectKwargs:
    return {
        "options": SESSION_OPTIONS,
        "application_name": application_name,
        # A dead server must not hold a webhook for long: the provider retries a 5xx.
        "connect_timeout": 2,
        # A server that vanishes without closing connections (failover, network loss) is
        # noticed in seconds, not at the kernel's default of minutes.
        "keepalives": 1,
        "keepalives_idle": 5,
        "keepalives_interval": 2,
        "keepalives_count": 2,
        "tcp_user_timeout": 5000,
    }


def make_pool(
    url: str,
    *,
    application_name: str,
    min_size: int = 1,
    max_size: int = 10,
    timeout: float = 2.0,
) -> ConnectionPool:
    """Open a pool whose `connection()` raises PoolTimeout after `timeout` seconds."""
    pool = ConnectionPool(
        url,
        min_size=min_size,
        max_size=max_size,
        timeout=timeout,
        kwargs=dict(connect_kwargs(application_name)),
        check=ConnectionPool.check_connection,
        open=False,
        name=application_name,
    )
    # wait=False: the service starts while the database is down and recovers when it is back.
    pool.open(wait=False)
    return pool


def connect(url: str, *, application_name: str, autocommit: bool = False) -> Connection[DictRow]:
    """One connection outside any pool (CLI commands, migrations)."""
    return Connection[DictRow].connect(
        url, autocommit=autocommit, row_factory=dict_row, **connect_kwargs(application_name)
    )


def limit_statement_time(conn: Connection[object], limit: timedelta) -> None:
    """Cancel any statement of the current transaction that runs longer than `limit`."""
    milliseconds = max(1, int(limit.total_seconds() * 1000))
    conn.execute("SELECT set_config('statement_timeout', %s, true)", (str(milliseconds),))


def url_parts(url: str) -> dict[str, str | int | None] | None:
    """libpq's reading of a connection URL (user, host, port, dbname, ...); None when libpq
    cannot parse it."""
    try:
        return conninfo_to_dict(url)
    except psycopg.ProgrammingError:
        return None
