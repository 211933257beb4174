"""The tenant's WhatsApp templates approved by Meta: what may be sent outside the 24-hour window."""

from dataclasses import dataclass

from psycopg import Connection
from psycopg.rows import class_row, tuple_row


@dataclass(frozen=True)
class MessageTemplate:
    id: int
    name: str
    language: str
    body: str
    # Names of the body's {{1}}, {{2}}... in order, as agents are asked for them.
    parameters: list[str]


_COLUMNS = "id, name, language, body, parameters"


def message_templates(conn: Connection[object], tenant_id: int) -> list[MessageTemplate]:
    cur = conn.cursor(row_factory=class_row(MessageTemplate))
    return cur.execute(
        f"SELECT {_COLUMNS} FROM message_templates WHERE tenant_id = %s ORDER BY name, language",
        (tenant_id,),
    ).fetchall()


def message_template(
    conn: Connection[object], tenant_id: int, template_id: int
) -> MessageTemplate | None:
    cur = conn.cursor(row_factory=class_row(MessageTemplate))
    return cur.execute(
        f"SELECT {_COLUMNS} FROM message_templates WHERE tenant_id = %s AND id = %s",
        (tenant_id, template_id),
    ).fetchone()


def create_message_template(
    conn: Connection[object],
    tenant_id: int,
    *,
    name: str,
    language: str,
    body: str,
    parameters: list[str],
) -> int | None:
    """The new template's id; None when the tenant has this name in this language already."""
    row = (
        conn.cursor(row_factory=tuple_row)
        .execute(
            "INSERT INTO message_templates (tenant_id, name, language, body, parameters)"
            " VALUES (%s, %s, %s, %s, %s)"
            " ON CONFLICT (tenant_id, name, language) DO NOTHING RETURNING id",
            (tenant_id, name, language, body, parameters),
        )
        .fetchone()
    )
    return None if row is None else int(row[0])


def delete_message_template(conn: Connection[object], tenant_id: int, template_id: int) -> bool:
    cur = conn.execute(
        "DELETE FROM message_templates WHERE tenant_id = %s AND id = %s", (tenant_id, template_id)
    )
    return cur.rowcount == 1
