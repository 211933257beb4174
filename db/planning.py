"""What reply planning reads and writes on a conversation: its state, its messages, its lead."""

from dataclasses import dataclass

from psycopg import Connection
from psycopg.rows import class_row, tuple_row

from db.messages import CONVERSATION_ORDER, NEWEST_FIRST
from domain.conversation import ContextMessage, LeadFacts
from domain.models import ConversationStatus

# Inbound messages that call for an answer; a reaction or a system notice does not.
_UNANSWERABLE = ("reaction", "system")


@dataclass(frozen=True)
class PlanningState:
    id: int
    tenant_id: int
    contact_id: int
    channel: str
    status: ConversationStatus
    replied_through: int
    low_confidence_streak: int
    # The newest inbound message that calls for an answer (0 when none).
    newest_inbound: int

    def __post_init__(self) -> None:
        # The column's text becomes its enum here, once for every reader.
        object.__setattr__(self, "status", ConversationStatus(self.status))


_STATE = f"""
    SELECT v.id, v.tenant_id, v.contact_id, v.channel, v.status, v.replied_through,
           v.low_confidence_streak,
           COALESCE((SELECT max(m.id) FROM messages m
                     WHERE m.conversation_id = v.id AND m.tenant_id = v.tenant_id
                       AND m.direction = 'in'
                       AND m.type NOT IN ({", ".join(f"'{t}'" for t in _UNANSWERABLE)})), 0)
               AS newest_inbound
    FROM conversations v WHERE v.id = %s
"""


def answerable(message_type: str) -> bool:
    return message_type not in _UNANSWERABLE


def planning_state(conn: Connection[object], conversation_id: int) -> PlanningState | None:
    cur = conn.cursor(row_factory=class_row(PlanningState))
    return cur.execute(_STATE, (conversation_id,)).fetchone()


def lock_planning_state(conn: Connection[object], conversation_id: int) -> PlanningState | None:
    """The state under the conversation's row lock: commits of replies serialise here.

    Lock first, read after: a statement that waited for the lock still sees the snapshot it
    started with, which would miss a message committed by the ingest that held the lock.
    """
    conn.execute("SELECT 1 FROM conversations WHERE id = %s FOR UPDATE", (conversation_id,))
    return planning_state(conn, conversation_id)


_CONTEXT = f"""
    SELECT id, direction, type, text, ordered_at AS at FROM messages
    WHERE tenant_id = %(tenant)s AND conversation_id = %(conversation)s AND id <= %(through)s
      AND type NOT IN ({", ".join(f"'{t}'" for t in _UNANSWERABLE)})
      AND (direction = 'in' OR delivery_status NOT IN ('cancelled', 'failed'))
"""


def unanswered(
    conn: Connection[object],
    tenant_id: int,
    conversation_id: int,
    replied_through: int,
    through: int,
) -> list[ContextMessage]:
    """The customer's messages a reply through `through` answers, in the provider's order.

    Which ones is decided by id, not by order: ids follow the order in which messages were
    stored under the conversation's row lock, which is what `replied_through` counts. A message
    stored late with an earlier timestamp is still answered (once), though shown in its place.
    """
    cur = conn.cursor(row_factory=class_row(ContextMessage))
    return cur.execute(
        _CONTEXT + f" AND direction = 'in' AND id > %(after)s ORDER BY {CONVERSATION_ORDER}",
        {
            "tenant": tenant_id,
            "conversation": conversation_id,
            "through": through,
            "after": replied_through,
        },
    ).fetchall()


def history(
    conn: Connection[object],
    tenant_id: int,
    conversation_id: int,
    replied_through: int,
    through: int,
    limit: int,
) -> list[ContextMessage]:
    """The last `limit` messages up to `through` other than the unanswered ones (the context
    they are read in), in the provider's order; withdrawn replies left out."""
    cur = conn.cursor(row_factory=class_row(ContextMessage))
    rows = cur.execute(
        _CONTEXT + " AND NOT (direction = 'in' AND id > %(after)s)"
        f" ORDER BY {NEWEST_FIRST} LIMIT %(limit)s",
        {
            "tenant": tenant_id,
            "conversation": conversation_id,
            "through": through,
            "after": replied_through,
            "limit": limit,
        },
    ).fetchall()
    return rows[::-1]


def lead_facts(
    conn: Connection[object], tenant_id: int, contact_id: int
) -> tuple[int, LeadFacts] | None:
    """(lead id, what we know of it), with the services it asked about."""
    cur = conn.cursor(row_factory=tuple_row)
    row = cur.execute(
        """
        SELECT l.id, l.name, l.facts ->> 'name_source', l.email, l.phone_e164, l.score, l.stage,
               COALESCE(array_agg(i.service ORDER BY i.first_at, i.service)
                        FILTER (WHERE i.service IS NOT NULL), '{}')
        FROM leads l LEFT JOIN lead_service_interest i ON i.lead_id = l.id
        WHERE l.tenant_id = %s AND l.contact_id = %s
        GROUP BY l.id
        """,
        (tenant_id, contact_id),
    ).fetchone()
    if row is None:
        return None
    lead_id, name, source, email, phone, score, stage, services = row
    return lead_id, LeadFacts(name, source, email, phone, score, stage, tuple(services))


def mark_planned(conn: Connection[object], conversation_id: int, through: int, streak: int) -> None:
    """Replies are planned in message order: `replied_through` only moves forward."""
    conn.execute(
        "UPDATE conversations SET replied_through = GREATEST(replied_through, %s),"
        " low_confidence_streak = %s, updated_at = now() WHERE id = %s",
        (through, streak, conversation_id),
    )


def flag_for_human(conn: Connection[object], conversation_id: int, reason: str) -> None:
    """Ask a person to look, without taking the conversation from the assistant."""
    conn.execute(
        "UPDATE conversations SET needs_human_reason = %s, updated_at = now() WHERE id = %s",
        (reason, conversation_id),
    )
