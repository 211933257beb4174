"""Statuses, reply outcomes and sources are enums in the code and the same strings in SQL."""

import re

import pytest

from db import conversations, planning
from domain.models import ConversationStatus, DeliveryStatus, ReplyOutcome, ReplySource


def _allowed(db, table: str, column: str) -> set[str]:
    """The values the column's CHECK constraint allows."""
    definition = db.execute(
        "SELECT pg_get_constraintdef(c.oid) FROM pg_constraint c"
        " WHERE c.conrelid = %s::regclass AND c.contype = 'c'"
        " AND pg_get_constraintdef(c.oid) LIKE %s",
        (table, f"%({column} = ANY%"),
    ).fetchone()[0]
    return set(re.findall(r"'([a-z_]+)'::text", definition))


@pytest.mark.parametrize(
    ("table", "column", "enum"),
    [
        ("conversations", "status", ConversationStatus),
        ("messages", "delivery_status", DeliveryStatus),
        ("replies", "outcome", ReplyOutcome),
        ("replies", "source", ReplySource),
    ],
)
def test_each_enum_has_exactly_the_values_its_column_allows(db, table, column, enum) -> None:
    assert _allowed(db, table, column) == {member.value for member in enum}


def test_rows_come_back_as_enums(db, tenant) -> None:
    contact = conversations.upsert_contact(
        db, tenant_id=tenant.id, channel="whatsapp", channel_user_id="15550002222",
        phone_e164="+15550002222", profile_name="Ana",
    )  # fmt: skip
    now = db.execute("SELECT now()").fetchone()[0]
    conversation = conversations.live_conversation(
        db, tenant_id=tenant.id, contact_id=contact, channel="whatsapp", inbound_at=now
    )
    state = planning.planning_state(db, conversation.id)
    assert state is not None
    assert type(conversation.status) is ConversationStatus
    assert state.status is ConversationStatus.OPEN
