"""Which database a command uses: DATABASE_URL, or the embedded PostgreSQL under ./var/."""

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import click
from psycopg import Connection
from psycopg.rows import DictRow

from db.pool import connect, url_parts
from ops.embedded_pg import EmbeddedPostgresError, running_pid, start_embedded, stop_embedded
from ops.output import echo

# Relative on purpose: `./var/` of the directory recado is started from, like `make run` does.
VAR_DIR = Path("var")


def describe(url: str) -> str:
    """The URL without its password, for messages."""
    if not url:
        return f"the embedded PostgreSQL in ./{VAR_DIR}/"
    info = url_parts(url)
    if info is None:
        return "an unparseable DATABASE_URL"
    user = f"{info['user']}@" if info.get("user") else ""
    # libpq's parse gives text; the dict's type allows ints for keyword arguments.
    host = str(info.get("host") or "localhost")
    port = f":{info['port']}" if info.get("port") and not host.startswith("/") else ""
    return f"postgresql://{user}{host}{port}/{info.get('dbname', '')}"


@contextmanager
def database_url() -> Iterator[str]:
    """DATABASE_URL if set; else the embedded server, stopped on exit if this call started it.

    The environment is left as it is: whoever needs the URL (settings, child processes) is
    given it.
    """
    url = os.environ.get("DATABASE_URL", "").strip()
    if url:
        yield url
        return
    started = running_pid(VAR_DIR) is None
    if started:
        echo(f"DATABASE_URL is not set: starting the embedded PostgreSQL in {VAR_DIR}/", err=True)
    try:
        url = start_embedded(VAR_DIR)
    except EmbeddedPostgresError as exc:
        raise click.ClickException(str(exc)) from exc
    try:
        yield url
    finally:
        if started:
            stop_embedded(VAR_DIR)


@contextmanager
def cli_connection(*, autocommit: bool = False) -> Iterator[Connection[DictRow]]:
    """A connection for one CLI command, on whichever database `database_url` picks."""
    with (
        database_url() as url,
        connect(url, application_name="recado-cli", autocommit=autocommit) as conn,
    ):
        yield conn
