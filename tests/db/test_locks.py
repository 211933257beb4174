"""The lock order, stated once in db/locks.py: a lock ranked before one already taken is refused,
and the send step takes a provider id's lock before its row, as the status step does."""

import threading
import time
from datetime import UTC, datetime, timedelta

import psycopg
import pytest
from psycopg.types.json import Jsonb

from db import conversations, messages
from db.locks import LockOrderError, Locks
from db.pool import SESSION_OPTIONS
from tests.conftest import TEST_DATABASE_URL

WAMID = "wamid.locks"


@pytest.mark.parametrize(
    "steps",
    [
        ["event", "provider_id", "send_row", "message", "pacing", "breaker"],
        ["provider_id", "message", "provider_id", "message"],
        ["conversation"],
        ["message", "breaker"],
    ],
)
def test_locks_taken_in_order_are_granted(db, tenant, steps: list[str]) -> None:
    with db.transaction():
        locks = Locks(db)
        for step in steps:
            _take(locks, tenant.id, step)


@pytest.mark.parametrize(
    ("steps", "refused"),
    [
        (["send_row", "provider_id"], "PROVIDER_ID lock asked for after MESSAGE"),
        (["message", "conversation"], "CONVERSATION lock asked for after MESSAGE"),
        (["breaker", "message"], "MESSAGE lock asked for after BREAKER"),
        (["pacing", "message"], "MESSAGE lock asked for after PACING"),
        (["provider_id", "event"], "EVENT lock asked for after PROVIDER_ID"),
    ],
)
def test_a_lock_out_of_order_is_refused(db, tenant, steps: list[str], refused: str) -> None:
    with pytest.raises(LockOrderError, match=refused), db.transaction():
        locks = Locks(db)
        for step in steps:
            _take(locks, tenant.id, step)


def test_a_provider_id_held_may_be_taken_again_after_the_row(db, tenant) -> None:
    with db.transaction():
        locks = Locks(db)
        locks.provider_id(tenant.id, "whatsapp", WAMID)
        locks.message(tenant.id, 1)
        locks.provider_id(tenant.id, "whatsapp", WAMID)
        with pytest.raises(LockOrderError):
            locks.provider_id(tenant.id, "whatsapp", "wamid.other")


def test_a_send_checking_its_evidence_while_the_status_is_applied_does_not_deadlock(
    db, tenant, runtime
) -> None:
    """The status step holds the provider id's lock and then wants the message's row. A send
    whose outcome is unknown finds that status stored and records its id: it must not hold the
    row while it waits for the id's lock (PostgreSQL would abort one of them as a deadlock)."""
    from actors.send import _prepare

    message_id = _uncertain_send_with_a_stored_status(db, tenant)
    failures: list[BaseException] = []

    def send() -> None:
        try:
            _prepare(runtime, message_id)
        except BaseException as error:
            failures.append(error)

    with psycopg.connect(TEST_DATABASE_URL, options=SESSION_OPTIONS) as status_step:
        locks = Locks(status_step)
        locks.provider_id(tenant.id, "whatsapp", WAMID)
        sender = threading.Thread(target=send)
        sender.start()
        _wait_until_waiting_for_a_lock(db)
        # Waits for nobody when the send took no row before the id's lock.
        locks.message(tenant.id, message_id)
        status_step.commit()
    sender.join(30)

    assert failures == []
    assert db.execute(
        "SELECT provider_message_id, delivery_status FROM messages WHERE id = %s", (message_id,)
    ).fetchone() == (WAMID, "sent")


def _take(locks: Locks, tenant_id: int, step: str) -> None:
    match step:
        case "event":
            locks.event(1)
        case "provider_id":
            locks.provider_id(tenant_id, "whatsapp", WAMID)
        case "conversation":
            locks.conversation(1)
        case "send_row":
            locks.send_row(tenant_id, 1)
        case "message":
            locks.message(tenant_id, 1)
        case "pacing":
            locks.pacing()
        case "breaker":
            locks.breaker(tenant_id, "whatsapp")


def _uncertain_send_with_a_stored_status(db, tenant) -> int:
    """An outbound text whose send attempt's outcome is unknown, and a stored (not applied)
    status webhook naming it."""
    contact = conversations.upsert_contact(
        db, tenant_id=tenant.id, channel="whatsapp", channel_user_id="16505551234",
        phone_e164="+16505551234", profile_name="Sheena",
    )  # fmt: skip
    conversation = conversations.live_conversation(
        db,
        tenant_id=tenant.id,
        contact_id=contact,
        channel="whatsapp",
        inbound_at=datetime.now(UTC) - timedelta(minutes=5),
    )
    message_id = messages.insert_outbound(
        db,
        tenant_id=tenant.id,
        conversation_id=conversation.id,
        channel="whatsapp",
        type="text",
        text="Your appointment is at 5",
    )
    db.execute(
        "UPDATE messages SET delivery_status = 'sending', send_uncertain = true,"
        " send_started_at = now(), send_attempts = 1 WHERE id = %s",
        (message_id,),
    )
    status = {"id": WAMID, "status": "sent", "biz_opaque_callback_data": f"recado:{message_id}"}
    db.execute(
        "INSERT INTO inbound_events (tenant_id, channel, kind, provider_event_id, payload)"
        " VALUES (%s, 'whatsapp', 'status', %s, %s)",
        (tenant.id, f"{WAMID}:sent", Jsonb({"status": status})),
    )
    return message_id


def _wait_until_waiting_for_a_lock(db) -> None:
    deadline = time.monotonic() + 30
    while not db.execute(
        "SELECT count(*) FROM pg_stat_activity"
        " WHERE datname = current_database() AND wait_event_type = 'Lock'"
    ).fetchone()[0]:
        assert time.monotonic() < deadline, "the send never waited for the provider id's lock"
        time.sleep(0.02)
