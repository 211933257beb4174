"""Databases on a server, as its administrator sees them (the embedded server's first start)."""

from psycopg import Connection, sql


def create_database_if_missing(conn: Connection[object], name: str) -> bool:
    """Create database `name` unless it exists; True when it was created. Needs autocommit."""
    exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
    if exists:
        return False
    conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return True
