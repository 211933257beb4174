"""Driver errors, translated once: the rest of recado catches these, never psycopg's classes.

psycopg files a lost connection, a deadlock and an index entry too large for its btree all under
OperationalError; each calls for a different answer (wait for the database, run the transaction
again, set the value aside), so they are told apart here by SQLSTATE.
"""

from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
from psycopg import errors as pg_errors

from domain.errors import PermanentError, RetryableError


class DatabaseUnavailable(RetryableError):
    """The database cannot be reached right now (refused, lost or no free connection in time)."""


class TransactionConflict(RetryableError):
    """The transaction lost a deadlock or a serialization race; running it again can succeed."""


class QueryTimedOut(RetryableError):
    """A statement ran past the time limit its caller set (statement_timeout): a busy or
    locked table, not a lost database."""


class UnstorableValue(PermanentError):
    """PostgreSQL refuses a value (too large to index, invalid for its type), and always will."""


class SchemaMissing(PermanentError):
    """A table or column the code expects does not exist: the database is not migrated."""


class StatementRefused(PermanentError):
    """The server refused a statement for a reason none of the above names (a constraint, a
    trigger, a bug); the message is the server's own."""


# Besides class 08 (connection exception) and client-side failures, which carry no SQLSTATE:
# the server shutting down or starting up, and no connection slot left.
_UNREACHABLE = frozenset({"57P01", "57P02", "57P03", "53300"})
_CONFLICTS = frozenset({"40001", "40P01"})  # serialization_failure, deadlock_detected
_MISSING = frozenset({"42P01", "42703"})  # undefined_table, undefined_column


def translate(error: psycopg.Error) -> Exception | None:
    """The recado error for a driver error; None for a client-side misuse without a SQLSTATE
    (a closed cursor, a bad parameter), which is a bug in our code."""
    sqlstate = error.sqlstate
    if isinstance(error, psycopg.OperationalError) and (
        sqlstate is None or sqlstate.startswith("08") or sqlstate in _UNREACHABLE
    ):
        # psycopg_pool's PoolTimeout is an OperationalError without SQLSTATE, too.
        return DatabaseUnavailable(f"database unavailable: {type(error).__name__}")
    if sqlstate == "57014":  # query_canceled, as statement_timeout cancels
        return QueryTimedOut(f"query timed out: {type(error).__name__}")
    if sqlstate in _CONFLICTS:
        return TransactionConflict(f"transaction conflict: {type(error).__name__}")
    if isinstance(error, psycopg.DataError | pg_errors.ProgramLimitExceeded):
        # The message can quote the value; only the kind of refusal travels on.
        return UnstorableValue(f"value refused by PostgreSQL: {type(error).__name__}")
    if sqlstate in _MISSING:
        return SchemaMissing(error.diag.message_primary or type(error).__name__)
    if sqlstate is not None:
        return StatementRefused(error.diag.message_primary or type(error).__name__)
    return None


@contextmanager
def translated() -> Iterator[None]:
    """Raise the driver errors of the block as recado errors (the original as their cause)."""
    try:
        yield
    except psycopg.Error as error:
        better = translate(error)
        if better is None:
            raise
        raise better from error
