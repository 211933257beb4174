"""Migration 0014: triggers on messages and conversations record live events and notify."""

import psycopg
from psycopg.types.json import Jsonb

from db import live_events
from db.tenants import Tenant, create_tenant
from tests.conftest import count

CONVERSATION_SQL = """
WITH c AS (
    INSERT INTO contacts (tenant_id, channel, channel_user_id) VALUES (%s, 'whatsapp', %s)
    RETURNING id
)
INSERT INTO conversations (tenant_id, contact_id, channel)
SELECT %s, c.id, 'whatsapp' FROM c RETURNING id
"""


def new_conversation(db: psycopg.Connection, tenant_id: int, user: str = "16505551234") -> int:
    return db.execute(CONVERSATION_SQL, (tenant_id, user, tenant_id)).fetchone()[0]


def new_message(
    db: psycopg.Connection, tenant_id: int, conversation_id: int, direction: str
) -> int:
    status = "pending" if direction == "out" else None
    return db.execute(
        "INSERT INTO messages (tenant_id, conversation_id, channel, direction, type, text,"
        " delivery_status) VALUES (%s, %s, 'whatsapp', %s, 'text', 'hi', %s) RETURNING id",
        (tenant_id, conversation_id, direction, status),
    ).fetchone()[0]


def events(db: psycopg.Connection) -> list[tuple[int, str, dict]]:
    return db.execute("SELECT tenant_id, kind, data FROM live_events ORDER BY id").fetchall()


def test_a_new_message_is_an_event_and_a_notification(db, database_url, tenant: Tenant):
    conversation = new_conversation(db, tenant.id)
    with psycopg.connect(database_url, autocommit=True) as listener:
        listener.execute("LISTEN recado_live")
        message = new_message(db, tenant.id, conversation, "in")
        notes = list(listener.notifies(timeout=5, stop_after=1))
    assert events(db) == [
        (
            tenant.id,
            "message",
            {"conversation_id": conversation, "message_id": message, "direction": "in"},
        )
    ]
    event_id = db.execute("SELECT id FROM live_events").fetchone()[0]
    assert [n.payload for n in notes] == [f"{tenant.id}:{event_id}"]
    assert live_events.parse_notification(notes[0].payload) == (tenant.id, event_id)


def test_a_status_change_is_an_event_with_the_providers_reason(db, tenant: Tenant):
    conversation = new_conversation(db, tenant.id)
    message = new_message(db, tenant.id, conversation, "out")
    db.execute("UPDATE messages SET delivery_status = 'sent' WHERE id = %s", (message,))
    # The same status again, or another column: no event.
    db.execute("UPDATE messages SET delivery_status = 'sent' WHERE id = %s", (message,))
    db.execute("UPDATE messages SET text = 'edited' WHERE id = %s", (message,))
    error = [{"code": 131026, "title": "Message undeliverable", "message": None, "details": None}]
    db.execute(
        "UPDATE messages SET delivery_status = 'failed', error = %s WHERE id = %s",
        (Jsonb(error), message),
    )
    statuses = [data for _, kind, data in events(db) if kind == "status"]
    assert statuses == [
        {"conversation_id": conversation, "message_id": message, "status": "sent"},
        {
            "conversation_id": conversation,
            "message_id": message,
            "status": "failed",
            "reason": "Message undeliverable",
        },
    ]


def test_a_conversation_change_is_an_event_and_other_columns_are_not(db, tenant: Tenant):
    conversation = new_conversation(db, tenant.id)
    db.execute("UPDATE conversations SET low_confidence_streak = 2 WHERE id = %s", (conversation,))
    assert count(db, "live_events") == 0
    db.execute(
        "UPDATE conversations SET status = 'handoff', handoff_at = now() WHERE id = %s",
        (conversation,),
    )
    db.execute("UPDATE conversations SET updated_at = now() WHERE id = %s", (conversation,))
    assert events(db) == [
        (tenant.id, "conversation", {"conversation_id": conversation, "status": "handoff"}),
        (tenant.id, "conversation", {"conversation_id": conversation, "status": "handoff"}),
    ]


def test_catch_up_reads_one_tenant_after_an_id_and_old_events_are_purged(db, tenant):
    other_tenant = create_tenant(
        db,
        slug="globex",
        name="Globex",
        wa_phone_number_id="999",
        wa_app_secret="s",
        wa_verify_token="v",
        wa_access_token="a",
    )
    mine = new_conversation(db, tenant.id)
    theirs = new_conversation(db, other_tenant.id)
    first = new_message(db, tenant.id, mine, "in")
    new_message(db, other_tenant.id, theirs, "in")
    second = new_message(db, tenant.id, mine, "in")
    all_of_mine = live_events.events_after(db, tenant.id, 0, 10)
    assert [e.data["message_id"] for e in all_of_mine] == [first, second]
    after_first = live_events.events_after(db, tenant.id, all_of_mine[0].id, 10)
    assert [e.data["message_id"] for e in after_first] == [second]
    assert len(live_events.events_after(db, tenant.id, 0, 1)) == 1
    assert live_events.latest_id(db) == 3

    db.execute("UPDATE live_events SET at = now() - interval '2 hours' WHERE id < 3")
    assert live_events.purge_live_events(db) == 2
    assert live_events.latest_id(db) == 3
    assert count(db, "live_events") == 1
