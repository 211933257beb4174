"""Per-request database access and the answer when the database is unreachable."""

from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
from flask import Response, current_app
from psycopg import Connection
from psycopg_pool import ConnectionPool, PoolTimeout

# Errors that mean "the database is not there right now": the caller answers 503.
UNAVAILABLE = (PoolTimeout, psycopg.OperationalError)


@contextmanager
def transaction() -> Iterator[Connection]:
    """A pooled connection whose transaction commits when the block ends without error."""
    pool: ConnectionPool = current_app.extensions["recado.pool"]
    with pool.connection() as conn:
        yield conn


def unavailable() -> Response:
    return Response(
        "database unavailable, retry later\n",
        status=503,
        mimetype="text/plain",
        headers={"Retry-After": "5"},
    )
