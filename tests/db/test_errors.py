"""Driver errors provoked on the real PostgreSQL, and what each is translated to."""

import hashlib
import os
import socket
import threading

import psycopg
import pytest

from db.errors import (
    DatabaseUnavailable,
    QueryTimedOut,
    SchemaMissing,
    StatementRefused,
    TransactionConflict,
    UnstorableValue,
    translated,
)
from domain.errors import PermanentError, RetryableError


def connect() -> psycopg.Connection:
    return psycopg.connect(os.environ["DATABASE_URL"])


def test_a_refused_connection_is_unavailable():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # nothing listens there once the probe is closed
    with pytest.raises(DatabaseUnavailable) as raised, translated():
        psycopg.connect(f"postgresql://postgres@127.0.0.1:{port}/postgres", connect_timeout=2)
    assert isinstance(raised.value, RetryableError)


def test_a_connection_the_server_ends_is_unavailable():
    with connect() as conn, pytest.raises(DatabaseUnavailable), translated():
        conn.execute("SELECT pg_terminate_backend(pg_backend_pid())")


def test_a_real_deadlock_is_a_conflict_to_run_again():
    # Two transactions each hold one advisory lock and ask for the other's.
    with connect() as first, connect() as second:
        first.execute("SELECT pg_advisory_xact_lock(1)")
        second.execute("SELECT pg_advisory_xact_lock(2)")
        errors: list[BaseException] = []

        def cross(conn: psycopg.Connection, key: int) -> None:
            try:
                with translated():
                    conn.execute("SELECT pg_advisory_xact_lock(%s)", (key,))
            except TransactionConflict as error:
                errors.append(error)
            conn.rollback()  # the loser's rollback lets the other one through

        threads = [
            threading.Thread(target=cross, args=(first, 2)),
            threading.Thread(target=cross, args=(second, 1)),
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    (error,) = errors
    assert isinstance(error.__cause__, psycopg.errors.DeadlockDetected)
    assert "DeadlockDetected" in str(error)


def test_an_index_entry_over_the_btree_limit_is_an_unstorable_value():
    oversize = hashlib.shake_256(b"incompressible").hexdigest(2000)  # 4,000 bytes
    with connect() as conn, pytest.raises(UnstorableValue) as raised, translated():
        conn.execute("CREATE TEMPORARY TABLE keys (key text UNIQUE)")
        conn.execute("INSERT INTO keys VALUES (%s)", (oversize,))
    assert isinstance(raised.value, PermanentError)
    assert isinstance(raised.value.__cause__, psycopg.errors.ProgramLimitExceeded)
    assert oversize[:40] not in str(raised.value)


def test_a_value_its_type_refuses_is_an_unstorable_value():
    with connect() as conn, pytest.raises(UnstorableValue), translated():
        conn.execute("SELECT %s::jsonb", ('{"text": "a\\u0000b"}',))


def test_a_statement_timeout_is_a_timed_out_query_not_an_unreachable_database():
    # An OperationalError too, but the database answered: the caller's time limit ran out.
    with connect() as conn, pytest.raises(QueryTimedOut), translated():
        conn.execute("SET statement_timeout = '10ms'")
        conn.execute("SELECT pg_sleep(1)")


def test_other_server_errors_are_refused_statements_with_the_servers_message():
    # A lock_timeout is an OperationalError too, but neither unreachable nor a timed-out query.
    with connect() as holder, connect() as conn:
        holder.execute("SELECT pg_advisory_lock(7263145999)")
        with pytest.raises(StatementRefused) as raised, translated():
            conn.execute("SET lock_timeout = '10ms'")
            conn.execute("SELECT pg_advisory_lock(7263145999)")
    assert "lock timeout" in str(raised.value)
    assert isinstance(raised.value.__cause__, psycopg.errors.LockNotAvailable)


def test_a_missing_table_says_the_schema_is_missing():
    with connect() as conn, pytest.raises(SchemaMissing, match="no_such_table"), translated():
        conn.execute("SELECT * FROM no_such_table")


def test_client_side_misuse_stays_the_drivers():
    with connect() as conn, pytest.raises(psycopg.ProgrammingError), translated():
        conn.execute("SELECT %s, %s", (1,))
