"""Numbered SQL migrations: applied in order, each once, each in its own transaction."""

import re
from dataclasses import dataclass
from pathlib import Path

from psycopg import Connection
from psycopg.rows import tuple_row

MIGRATION_NAME = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")
# Two processes migrating at once (web and worker starting together) must not interleave.
MIGRATION_LOCK = 7_263_145_001
MIGRATIONS_DIR = Path(__file__).parent / "migrations"


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str


def available() -> list[Migration]:
    found = []
    for entry in MIGRATIONS_DIR.iterdir():
        match = MIGRATION_NAME.match(entry.name)
        if match:
            found.append(Migration(int(match.group(1)), entry.name, entry.read_text("utf-8")))
    return sorted(found, key=lambda m: m.version)


def applied(conn: Connection[object]) -> set[int]:
    cur = conn.cursor(row_factory=tuple_row)
    row = cur.execute("SELECT to_regclass('recado_migrations') IS NOT NULL").fetchone()
    assert row is not None
    if not row[0]:
        return set()
    cur.execute("SELECT version FROM recado_migrations")
    return {version for (version,) in cur.fetchall()}


def migrate(conn: Connection[object]) -> list[str]:
    """Apply the pending migrations; returns the names applied. `conn` must be in autocommit."""
    done: list[str] = []
    conn.execute("SELECT pg_advisory_lock(%s)", (MIGRATION_LOCK,))
    try:
        conn.execute(
            "CREATE TABLE IF NOT EXISTS recado_migrations ("
            " version integer PRIMARY KEY, name text NOT NULL,"
            " applied_at timestamptz NOT NULL DEFAULT now())"
        )
        present = applied(conn)
        for migration in available():
            if migration.version in present:
                continue
            with conn.transaction():
                conn.execute(migration.sql)
                conn.execute(
                    "INSERT INTO recado_migrations (version, name) VALUES (%s, %s)",
                    (migration.version, migration.name),
                )
            done.append(migration.name)
    finally:
        conn.execute("SELECT pg_advisory_unlock(%s)", (MIGRATION_LOCK,))
    return done
