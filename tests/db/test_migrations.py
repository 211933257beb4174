"""Migrations: idempotent, and our broker table matches what dramatiq-pg itself creates."""

import psycopg
from psycopg import sql

from actors.broker import schema_sql
from db.migrate import available, migrate
from db.pool import connect
from tests.conftest import SERVER_URL, TEST_DATABASE_URL

COLUMNS = """
SELECT column_name, data_type, udt_name, is_nullable, column_default
FROM information_schema.columns WHERE table_schema = 'dramatiq' AND table_name = 'queue'
ORDER BY ordinal_position
"""
INDEXES = "SELECT indexdef FROM pg_indexes WHERE schemaname = 'dramatiq' ORDER BY indexname"


def _shape(url: str) -> tuple[list, list]:
    with psycopg.connect(url) as conn:
        return conn.execute(COLUMNS).fetchall(), conn.execute(INDEXES).fetchall()


def test_migrate_twice_applies_nothing_the_second_time():
    with connect(TEST_DATABASE_URL, application_name="tests", autocommit=True) as conn:
        assert migrate(conn) == []
        applied = {row["version"] for row in conn.execute("SELECT version FROM recado_migrations")}
    assert applied == {m.version for m in available()}


def test_broker_table_matches_dramatiq_pg_schema():
    name = "recado_drift_check"
    with psycopg.connect(SERVER_URL, autocommit=True) as admin:
        admin.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    reference = psycopg.conninfo.make_conninfo(SERVER_URL, dbname=name)
    try:
        with psycopg.connect(reference, autocommit=True) as conn:
            conn.execute(schema_sql())
        assert _shape(TEST_DATABASE_URL) == _shape(reference)
    finally:
        with psycopg.connect(SERVER_URL, autocommit=True) as admin:
            admin.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )
