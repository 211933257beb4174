"""Migrations: idempotent, and our broker table matches what dramatiq-pg itself creates."""

from datetime import UTC, datetime

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


def _fresh_database(name: str) -> str:
    with psycopg.connect(SERVER_URL, autocommit=True) as admin:
        admin.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return psycopg.conninfo.make_conninfo(SERVER_URL, dbname=name)


def _drop_database(name: str) -> None:
    with psycopg.connect(SERVER_URL, autocommit=True) as admin:
        admin.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )


# Rows as the code before migration 0005 wrote them: an inbound message timestamped in year
# 9999 that held its conversation's window open, and our reply to it.
_BEFORE_0005 = """
INSERT INTO tenants (slug, name) VALUES ('acme', 'Acme'), ('beta', 'Beta');
INSERT INTO contacts (tenant_id, channel, channel_user_id) VALUES (1, 'whatsapp', '15550001111');
INSERT INTO conversations (tenant_id, contact_id, channel, last_inbound_at)
    VALUES (1, 1, 'whatsapp', '9999-12-31T23:59:59Z');
INSERT INTO inbound_events (tenant_id, channel, kind, provider_event_id, payload, received_at)
    VALUES (1, 'whatsapp', 'message', 'wamid.X', '{}', '2026-01-02T10:00:00Z');
INSERT INTO messages (tenant_id, conversation_id, channel, direction, type, text,
                      provider_message_id, inbound_event_id, provider_timestamp, created_at)
    VALUES (1, 1, 'whatsapp', 'in', 'text', 'hola', 'wamid.X', 1, '9999-12-31T23:59:59Z',
            '2026-01-02T10:00:01Z');
INSERT INTO messages (tenant_id, conversation_id, channel, direction, type, text,
                      delivery_status, created_at)
    VALUES (1, 1, 'whatsapp', 'out', 'text', 'hola, ¿en qué te ayudo?', 'sent',
            '2026-01-02T10:00:05Z');
"""


def test_migration_0005_carries_rows_from_before_it_over():
    name = "recado_migration_0005"
    url = _fresh_database(name)
    try:
        with connect(url, application_name="tests", autocommit=True) as conn:
            conn.execute(
                "CREATE TABLE recado_migrations (version integer PRIMARY KEY, name text NOT NULL,"
                " applied_at timestamptz NOT NULL DEFAULT now())"
            )
            for migration in available():
                if migration.version < 5:
                    conn.execute(migration.sql)
                    conn.execute(
                        "INSERT INTO recado_migrations (version, name) VALUES (%s, %s)",
                        (migration.version, migration.name),
                    )
            conn.execute(_BEFORE_0005)
            assert "0005_tenant_scoped_events.sql" in migrate(conn)
            rows = conn.execute(
                "SELECT direction, provider_timestamp, ordered_at, received_at, envelope_position"
                " FROM messages ORDER BY ordered_at, received_at, envelope_position, id"
            ).fetchall()
            last_inbound = conn.execute("SELECT last_inbound_at FROM conversations").fetchone()
            # Another tenant may now store an event with the same id; the same tenant may not.
            insert = (
                "INSERT INTO inbound_events (tenant_id, channel, kind, provider_event_id, payload)"
                " VALUES (%s, 'whatsapp', 'message', 'wamid.X', '{}')"
                " ON CONFLICT (tenant_id, channel, provider_event_id) DO NOTHING RETURNING id"
            )
            beta = conn.execute(insert, (2,)).fetchall()
            acme_again = conn.execute(insert, (1,)).fetchall()
    finally:
        _drop_database(name)
    received = datetime(2026, 1, 2, 10, 0, tzinfo=UTC)
    reply_at = datetime(2026, 1, 2, 10, 0, 5, tzinfo=UTC)
    assert [(r["direction"], r["ordered_at"], r["received_at"]) for r in rows] == [
        ("in", received, received),
        ("out", reply_at, reply_at),
    ]
    assert rows[0]["provider_timestamp"].year == 9999  # the raw value is kept
    assert last_inbound["last_inbound_at"] == received
    assert len(beta) == 1 and acme_again == []
