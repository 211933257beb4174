"""Contacts, leads and conversations: who wrote, and the thread they wrote in."""

from dataclasses import dataclass
from datetime import datetime

from psycopg import Connection
from psycopg.rows import class_row, tuple_row

from domain.models import ConversationStatus


@dataclass(frozen=True)
class Conversation:
    id: int
    tenant_id: int
    contact_id: int
    channel: str
    status: ConversationStatus
    last_inbound_at: datetime | None

    def __post_init__(self) -> None:
        # The column's text becomes its enum here, once for every reader.
        object.__setattr__(self, "status", ConversationStatus(self.status))


def upsert_contact(
    conn: Connection[object],
    *,
    tenant_id: int,
    channel: str,
    channel_user_id: str,
    phone_e164: str | None,
    profile_name: str | None,
) -> int:
    """Create the contact or refresh what the provider now tells us; never erase known values."""
    cur = conn.cursor(row_factory=tuple_row)
    row = cur.execute(
        """
        INSERT INTO contacts (tenant_id, channel, channel_user_id, phone_e164, profile_name)
        VALUES (%s, %s, %s, %s, %s)
        ON CONFLICT (tenant_id, channel, channel_user_id) DO UPDATE SET
            phone_e164 = COALESCE(EXCLUDED.phone_e164, contacts.phone_e164),
            profile_name = COALESCE(EXCLUDED.profile_name, contacts.profile_name),
            updated_at = now()
        RETURNING id
        """,
        (tenant_id, channel, channel_user_id, phone_e164, profile_name),
    ).fetchone()
    assert row is not None
    contact_id: int = row[0]
    return contact_id


def ensure_lead(
    conn: Connection[object],
    *,
    tenant_id: int,
    contact_id: int,
    name: str | None,
    phone_e164: str | None,
) -> int:
    """Every contact who writes is a lead; later steps only fill or improve its fields."""
    cur = conn.cursor(row_factory=tuple_row)
    row = cur.execute(
        """
        INSERT INTO leads (tenant_id, contact_id, name, phone_e164)
        VALUES (%s, %s, %s, %s)
        ON CONFLICT (tenant_id, contact_id) DO UPDATE SET
            name = COALESCE(leads.name, EXCLUDED.name),
            phone_e164 = COALESCE(leads.phone_e164, EXCLUDED.phone_e164)
        RETURNING id
        """,
        (tenant_id, contact_id, name, phone_e164),
    ).fetchone()
    assert row is not None
    lead_id: int = row[0]
    return lead_id


def live_conversation(
    conn: Connection[object], *, tenant_id: int, contact_id: int, channel: str, inbound_at: datetime
) -> Conversation:
    """The contact's open (or handed-off) conversation, opened if none is live."""
    cur = conn.cursor(row_factory=class_row(Conversation))
    row = cur.execute(
        """
        INSERT INTO conversations (tenant_id, contact_id, channel, last_inbound_at)
        VALUES (%s, %s, %s, %s)
        ON CONFLICT (tenant_id, contact_id, channel) WHERE status <> 'closed' DO UPDATE SET
            last_inbound_at = GREATEST(conversations.last_inbound_at, EXCLUDED.last_inbound_at),
            updated_at = now()
        RETURNING id, tenant_id, contact_id, channel, status, last_inbound_at
        """,
        (tenant_id, contact_id, channel, inbound_at),
    ).fetchone()
    assert row is not None
    return row


def live_conversation_with(
    conn: Connection[object], tenant_id: int, channel: str, channel_user_id: str
) -> Conversation | None:
    """The live conversation with a contact, if there is one."""
    cur = conn.cursor(row_factory=class_row(Conversation))
    return cur.execute(
        "SELECT v.id, v.tenant_id, v.contact_id, v.channel, v.status, v.last_inbound_at"
        " FROM conversations v JOIN contacts c ON c.id = v.contact_id AND c.tenant_id = v.tenant_id"
        " WHERE v.tenant_id = %s AND v.channel = %s AND c.channel_user_id = %s"
        " AND v.status <> 'closed'",
        (tenant_id, channel, channel_user_id),
    ).fetchone()
