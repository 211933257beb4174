"""Per-request database access, and the answers when the database cannot serve the request."""

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

from flask import Response, current_app
from psycopg import Connection
from psycopg_pool import ConnectionPool

from db.errors import TransactionConflict, translated

logger = logging.getLogger(__name__)
T = TypeVar("T")

# A deadlock or serialization failure says nothing about the request: run it again, twice more.
CONFLICT_ATTEMPTS = 3


@contextmanager
def transaction() -> Iterator[Connection]:
    """A pooled connection whose transaction commits when the block ends without error.

    Driver errors leave it translated (db/errors.py): DatabaseUnavailable, TransactionConflict...
    """
    pool: ConnectionPool = current_app.extensions["recado.pool"]
    with translated(), pool.connection() as conn:
        yield conn


def run_transaction(work: Callable[[Connection], T]) -> T:
    """`work` in one transaction, the whole of it run again after a TransactionConflict; the
    last attempt's conflict is raised."""
    for _ in range(CONFLICT_ATTEMPTS - 1):
        try:
            with transaction() as conn:
                return work(conn)
        except TransactionConflict as error:
            logger.warning("%s, running the transaction again", error)
    with transaction() as conn:
        return work(conn)


def unavailable(reason: str = "database unavailable") -> Response:
    return Response(
        f"{reason}, retry later\n",
        status=503,
        mimetype="text/plain",
        headers={"Retry-After": "5"},
    )
