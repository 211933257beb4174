"""Canned replies: texts an agent inserts into the composer with one click, per tenant."""

from dataclasses import dataclass

from psycopg import Connection
from psycopg import errors as pg_errors
from psycopg.rows import class_row, tuple_row


@dataclass(frozen=True)
class CannedReply:
    id: int
    title: str
    body: str


def canned_replies(conn: Connection[object], tenant_id: int) -> list[CannedReply]:
    cur = conn.cursor(row_factory=class_row(CannedReply))
    return cur.execute(
        "SELECT id, title, body FROM canned_replies WHERE tenant_id = %s ORDER BY lower(title), id",
        (tenant_id,),
    ).fetchall()


def canned_reply(conn: Connection[object], tenant_id: int, reply_id: int) -> CannedReply | None:
    cur = conn.cursor(row_factory=class_row(CannedReply))
    return cur.execute(
        "SELECT id, title, body FROM canned_replies WHERE tenant_id = %s AND id = %s",
        (tenant_id, reply_id),
    ).fetchone()


def create_canned_reply(
    conn: Connection[object], tenant_id: int, title: str, body: str
) -> int | None:
    """The new reply's id; None when the tenant has one with this title already."""
    row = (
        conn.cursor(row_factory=tuple_row)
        .execute(
            "INSERT INTO canned_replies (tenant_id, title, body) VALUES (%s, %s, %s)"
            " ON CONFLICT (tenant_id, title) DO NOTHING RETURNING id",
            (tenant_id, title, body),
        )
        .fetchone()
    )
    return None if row is None else int(row[0])


def update_canned_reply(
    conn: Connection[object], tenant_id: int, reply_id: int, title: str, body: str
) -> bool:
    """False when another of the tenant's replies has this title."""
    try:
        with conn.transaction():
            conn.execute(
                "UPDATE canned_replies SET title = %s, body = %s WHERE tenant_id = %s AND id = %s",
                (title, body, tenant_id, reply_id),
            )
    except pg_errors.UniqueViolation:
        return False
    return True


def delete_canned_reply(conn: Connection[object], tenant_id: int, reply_id: int) -> bool:
    cur = conn.execute(
        "DELETE FROM canned_replies WHERE tenant_id = %s AND id = %s", (tenant_id, reply_id)
    )
    return cur.rowcount == 1
