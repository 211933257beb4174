"""The planner's commit reads the conversation under its lock, after the lock: a message that
the ingest holding the lock commits meanwhile is seen, so a reply that missed it is stale."""

import os
import threading

import psycopg

from db import conversations, planning


def test_the_locked_state_sees_a_message_committed_while_it_waited(db, tenant) -> None:
    contact = conversations.upsert_contact(
        db, tenant_id=tenant.id, channel="whatsapp", channel_user_id="15550002222",
        phone_e164="+15550002222", profile_name="Ana",
    )  # fmt: skip
    now = db.execute("SELECT now()").fetchone()[0]
    conversation = conversations.live_conversation(
        db, tenant_id=tenant.id, contact_id=contact, channel="whatsapp", inbound_at=now
    )
    insert = (
        "INSERT INTO messages (tenant_id, conversation_id, channel, direction, type, text)"
        " VALUES (%s, %s, 'whatsapp', 'in', 'text', %s) RETURNING id"
    )
    db.execute(insert, (tenant.id, conversation.id, "first"))
    seen: list[planning.PlanningState | None] = []
    with psycopg.connect(os.environ["DATABASE_URL"]) as ingest:
        # The ingest of a second message holds the conversation's row, as its upsert does.
        conversations.live_conversation(
            ingest, tenant_id=tenant.id, contact_id=contact, channel="whatsapp", inbound_at=now
        )
        second = ingest.execute(insert, (tenant.id, conversation.id, "second")).fetchone()[0]

        def commit_reply() -> None:
            with psycopg.connect(os.environ["DATABASE_URL"]) as planner:
                seen.append(planning.lock_planning_state(planner, conversation.id))

        planner = threading.Thread(target=commit_reply)
        planner.start()
        planner.join(0.5)
        assert planner.is_alive(), "the planner should be waiting for the row lock"
        ingest.commit()
    planner.join(10)
    assert seen[0] is not None
    assert seen[0].newest_inbound == second


def test_history_holds_every_unanswered_message_after_the_last_earlier_ones(db, tenant) -> None:
    contact = conversations.upsert_contact(
        db, tenant_id=tenant.id, channel="whatsapp", channel_user_id="15550003333",
        phone_e164="+15550003333", profile_name="Ana",
    )  # fmt: skip
    now = db.execute("SELECT now()").fetchone()[0]
    conversation = conversations.live_conversation(
        db, tenant_id=tenant.id, contact_id=contact, channel="whatsapp", inbound_at=now
    )
    ids = [
        db.execute(
            "INSERT INTO messages (tenant_id, conversation_id, channel, direction, type, text)"
            " VALUES (%s, %s, 'whatsapp', 'in', 'text', %s) RETURNING id",
            (tenant.id, conversation.id, f"message {n}"),
        ).fetchone()[0]
        for n in range(60)
    ]
    answered, through = ids[29], ids[-1]

    unanswered = planning.unanswered(db, tenant.id, conversation.id, answered, through)
    earlier = planning.history(db, tenant.id, conversation.id, answered, through, 5)

    # Every one of the 30 unanswered messages (no count limit), after the last 5 answered ones.
    assert [m.id for m in unanswered] == ids[30:]
    assert [m.id for m in earlier] == ids[25:30]
    first = planning.unanswered(db, tenant.id, conversation.id, 0, ids[9])
    assert [m.id for m in first] == ids[:10]
