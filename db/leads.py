"""Lead updates from planned replies: applied once per reply, under the lead's row lock."""

from collections.abc import Mapping, Sequence
from typing import Any

from psycopg import Connection
from psycopg.rows import tuple_row
from psycopg.types.json import Jsonb

# Columns the lead step may write; anything else in a change set is a programming error.
_COLUMNS = ("name", "email", "phone_e164")


def lock_lead_of_conversation(
    conn: Connection[object], tenant_id: int, conversation_id: int
) -> int | None:
    """The id of the conversation's lead, locked for the caller's transaction."""
    cur = conn.cursor(row_factory=tuple_row)
    row = cur.execute(
        "SELECT l.id FROM leads l JOIN conversations v"
        " ON v.contact_id = l.contact_id AND v.tenant_id = l.tenant_id"
        " WHERE v.tenant_id = %s AND v.id = %s FOR UPDATE OF l",
        (tenant_id, conversation_id),
    ).fetchone()
    return None if row is None else row[0]


def already_applied(conn: Connection[object], reply_id: int) -> bool:
    cur = conn.cursor(row_factory=tuple_row)
    return (
        cur.execute("SELECT 1 FROM lead_updates WHERE reply_id = %s", (reply_id,)).fetchone()
        is not None
    )


def apply_update(
    conn: Connection[object],
    *,
    tenant_id: int,
    lead_id: int,
    reply_id: int,
    changes: Mapping[str, Any],
    score: int,
    stage: str,
    score_delta: int,
    services: Sequence[str],
) -> None:
    columns = {k: v for k, v in changes.items() if k in _COLUMNS}
    assignments = "".join(f", {name} = %({name})s" for name in columns)
    facts = {"name_source": changes["name_source"]} if "name_source" in changes else {}
    conn.execute(
        f"UPDATE leads SET score = %(score)s, stage = %(stage)s, updated_at = now(),"
        f" facts = facts || %(facts)s{assignments} WHERE tenant_id = %(tenant)s AND id = %(id)s",
        {**columns, "score": score, "stage": stage, "facts": Jsonb(facts), "tenant": tenant_id,
         "id": lead_id},
    )  # fmt: skip
    for service in services:
        conn.execute(
            "INSERT INTO lead_service_interest (tenant_id, lead_id, service) VALUES (%s, %s, %s)"
            " ON CONFLICT (lead_id, service) DO UPDATE SET"
            " mentions = lead_service_interest.mentions + 1, last_at = now()",
            (tenant_id, lead_id, service),
        )
    conn.execute(
        "INSERT INTO lead_updates (reply_id, tenant_id, lead_id, changes, score_delta)"
        " VALUES (%s, %s, %s, %s, %s)",
        (reply_id, tenant_id, lead_id, Jsonb(dict(changes)), score_delta),
    )
