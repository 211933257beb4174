"""Steps behind the webhook, run by a real Dramatiq worker on the PostgreSQL broker."""

import json
import time
from collections.abc import Callable
from datetime import UTC, datetime

from tests.conftest import count, fixture_body, signed_headers

URL = "/webhooks/whatsapp/acme"


def post(client, body: bytes) -> None:
    assert client.post(URL, data=body, headers=signed_headers(body)).status_code == 200


def wait_for(condition: Callable[[], bool], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.05)


def all_processed(db) -> Callable[[], bool]:
    return lambda: count(db, "inbound_events", "processed_at IS NULL") == 0


def with_id(name: str, wamid: str) -> bytes:
    """A fixture with a fresh message id: Meta's samples reuse ids across files."""
    envelope = json.loads(fixture_body(name))
    envelope["entry"][0]["changes"][0]["value"]["messages"][0]["id"] = wamid
    return json.dumps(envelope).encode()


MESSAGE_FIXTURES = {
    "text.json": ("text", "Does it come in another color?"),
    "image.json": ("image", "Taj Mahal"),
    "interactive_list_reply.json": ("interactive", "Priority Mail Express"),
    "interactive_button_reply.json": ("interactive", "Cancel"),
    "button.json": ("button", "Unsubscribe"),
    "location.json": ("location", None),
    "unsupported.json": ("unsupported", None),
}


def test_every_message_fixture_becomes_contact_lead_conversation_and_message(
    client, tenant, db, worker
):
    for n, name in enumerate(MESSAGE_FIXTURES):
        post(client, with_id(name, f"wamid.fixture-{n}"))
    wait_for(all_processed(db))
    rows = db.execute(
        "SELECT m.type, m.text, m.media, m.direction, m.delivery_status, m.conversation_id"
        " FROM messages m JOIN inbound_events e ON e.id = m.inbound_event_id ORDER BY e.id"
    ).fetchall()
    assert [(r[0], r[3], r[4]) for r in rows] == [
        (kind, "in", None) for kind, _ in MESSAGE_FIXTURES.values()
    ]
    for (_kind, text), row in zip(MESSAGE_FIXTURES.values(), rows, strict=True):
        if text is not None:
            assert text in row[1]
    assert rows[1][2]["media_id"] == "1003383421387256"
    # One sender: one contact, one lead, one live conversation holding every message.
    assert count(db, "contacts") == 1
    assert count(db, "leads") == 1
    assert {row[5] for row in rows} == {rows[0][5]}
    contact = db.execute(
        "SELECT channel_user_id, phone_e164, profile_name FROM contacts"
    ).fetchone()
    assert contact == ("16505551234", "+16505551234", "Sheena Nelson")
    last_inbound = db.execute("SELECT last_inbound_at FROM conversations").fetchone()[0]
    assert last_inbound.timestamp() == 1750091045  # the newest of the fixtures' timestamps


def test_rerunning_a_step_changes_nothing_twice(client, tenant, db, worker):
    from actors.ingest import ingest_event

    post(client, fixture_body("text.json"))
    wait_for(all_processed(db))
    (event_id,) = db.execute("SELECT id FROM inbound_events").fetchone()
    before = [count(db, t) for t in ("contacts", "leads", "conversations", "messages")]
    # Already done: returns at once.
    ingest_event.fn(event_id)
    # A crash after the effects but before the outcome was recorded cannot happen (one
    # transaction), but even a forced re-run finds every row already there.
    db.execute("UPDATE inbound_events SET processed_at = NULL WHERE id = %s", (event_id,))
    ingest_event.fn(event_id)
    assert [count(db, t) for t in ("contacts", "leads", "conversations", "messages")] == before
    assert db.execute("SELECT outcome FROM inbound_events").fetchone()[0] == "duplicate"


def _outbound(db, tenant, provider_id: str | None = None) -> int:
    from db import conversations, messages

    contact = conversations.upsert_contact(
        db,
        tenant_id=tenant.id,
        channel="whatsapp",
        channel_user_id="16505551234",
        phone_e164="+16505551234",
        profile_name=None,
    )
    conversation = conversations.live_conversation(
        db,
        tenant_id=tenant.id,
        contact_id=contact,
        channel="whatsapp",
        inbound_at=datetime.now(UTC),
    )
    message_id = messages.insert_outbound(
        db,
        tenant_id=tenant.id,
        conversation_id=conversation.id,
        channel="whatsapp",
        type="text",
        text="hello",
    )
    if provider_id:
        messages.record_provider_id(db, message_id, provider_id)
        db.execute("UPDATE messages SET delivery_status = 'sent' WHERE id = %s", (message_id,))
    return message_id


def status_body(wamid: str, status: str, ts: int, callback: str | None = None) -> bytes:
    envelope = json.loads(fixture_body("status_sent.json"))
    item = envelope["entry"][0]["changes"][0]["value"]["statuses"][0]
    item.update(id=wamid, status=status, timestamp=str(ts))
    item.pop("biz_opaque_callback_data", None)
    if callback:
        item["biz_opaque_callback_data"] = callback
    if status == "failed":
        item["errors"] = [{"code": 131049, "title": "ecosystem", "message": "not delivered"}]
    return json.dumps(envelope).encode()


def delivery(db, message_id: int) -> tuple:
    return db.execute(
        "SELECT delivery_status, sent_at IS NOT NULL, delivered_at IS NOT NULL,"
        " read_at IS NOT NULL, failed_at IS NOT NULL FROM messages WHERE id = %s",
        (message_id,),
    ).fetchone()


def test_statuses_only_move_forward_whatever_their_order(client, tenant, db, worker):
    message_id = _outbound(db, tenant, "wamid.out-1")
    for status, ts in (("read", 30), ("delivered", 20), ("sent", 10), ("failed", 40)):
        post(client, status_body("wamid.out-1", status, 1_750_000_000 + ts))
        wait_for(all_processed(db))
    # The late statuses do not move the message back; their times (and the error) are kept.
    assert delivery(db, message_id) == ("read", True, True, True, True)
    outcomes = [r[0] for r in db.execute("SELECT outcome FROM inbound_events ORDER BY id")]
    assert outcomes == ["applied", "stale", "stale", "stale"]
    # Read proves delivery: the failure is recorded, but nothing is left for an operator.
    assert count(db, "dead_letters") == 0


def test_failed_status_records_the_provider_error(client, tenant, db, worker):
    message_id = _outbound(db, tenant, "wamid.out-2")
    post(client, status_body("wamid.out-2", "sent", 1_750_000_000))
    post(client, status_body("wamid.out-2", "failed", 1_750_000_100))
    wait_for(all_processed(db))
    assert delivery(db, message_id)[0] == "failed"
    (error,) = db.execute("SELECT error FROM messages WHERE id = %s", (message_id,)).fetchone()
    assert error[0]["code"] == 131049
    assert count(db, "dead_letters", "state = 'dead'") == 1


def settled(db, message_id: int) -> tuple:
    """Everything the statuses of a message write on its row."""
    return db.execute(
        "SELECT delivery_status, sent_at, delivered_at, read_at, failed_at, error"
        " FROM messages WHERE id = %s",
        (message_id,),
    ).fetchone()


def open_dead_letters(db, message_id: int) -> int:
    return count(db, "dead_letters", f"state = 'dead' AND args = '[{message_id}]'")


def test_read_then_failed_and_failed_then_read_settle_the_same(client, tenant, db, worker):
    # Meta may report a message failed on one device and read on another, in either order.
    at = {"read": 1_750_000_030, "failed": 1_750_000_040}
    ends = []
    for wamid, order in (("wamid.rf", ("read", "failed")), ("wamid.fr", ("failed", "read"))):
        message_id = _outbound(db, tenant, wamid)
        for status in order:
            post(client, status_body(wamid, status, at[status]))
            wait_for(all_processed(db))
        ends.append((settled(db, message_id), open_dead_letters(db, message_id)))
    assert ends[0] == ends[1]
    (status, sent_at, delivered_at, read_at, failed_at, error), open_letters = ends[0]
    assert (status, sent_at, delivered_at, open_letters) == ("read", None, None, 0)
    assert (read_at.timestamp(), failed_at.timestamp()) == (at["read"], at["failed"])
    assert error[0]["code"] == 131049
    # The failure reported while it was the latest news is settled, not left for an operator.
    assert count(db, "dead_letters", "state = 'resolved'") == 1


def test_parked_failed_and_read_settle_on_read_when_the_message_is_known(
    client, tenant, db, worker
):
    from actors.delivery import attach_provider_id
    from db.locks import Locks

    message_id = _outbound(db, tenant)
    post(client, status_body("wamid.parked", "failed", 1_750_000_040))
    post(client, status_body("wamid.parked", "read", 1_750_000_030))
    wait_for(all_processed(db))
    assert count(db, "pending_statuses") == 2
    with db.transaction():
        locks = Locks(db)
        locks.provider_id(tenant.id, "whatsapp", "wamid.parked")
        message = locks.message(tenant.id, message_id)
        attach_provider_id(locks, message, "wamid.parked")
    assert delivery(db, message_id) == ("read", False, False, True, True)
    assert open_dead_letters(db, message_id) == 0


def test_status_before_its_message_is_parked_then_applied(client, tenant, db, worker):
    from actors.delivery import attach_provider_id
    from db.locks import Locks

    message_id = _outbound(db, tenant)
    post(client, status_body("wamid.early", "delivered", 1_750_000_020))
    wait_for(all_processed(db))
    assert count(db, "pending_statuses") == 1
    assert delivery(db, message_id)[0] == "pending"
    # The send step records the provider's id: the parked status applies in that transaction.
    with db.transaction():
        locks = Locks(db)
        locks.provider_id(tenant.id, "whatsapp", "wamid.early")
        message = locks.message(tenant.id, message_id)
        attach_provider_id(locks, message, "wamid.early")
    assert delivery(db, message_id) == ("delivered", False, True, False, False)
    assert count(db, "pending_statuses") == 0


def test_parked_statuses_whose_message_never_appears_are_purged_after_retention(
    client, tenant, db, worker
):
    import os
    from datetime import timedelta

    from actors.broker import Housekeeping
    from domain.settings import Settings

    # Statuses of messages recado never sent (another app on the same number, say).
    for n in range(3):
        post(client, status_body(f"wamid.foreign-{n}", "delivered", 1_750_000_000))
    wait_for(all_processed(db))
    assert count(db, "pending_statuses") == 3
    db.execute(
        "UPDATE pending_statuses SET created_at = created_at - interval '8 days'"
        " WHERE provider_message_id <> 'wamid.foreign-2'"
    )
    settings = Settings.from_env(os.environ)
    assert settings.pending_status_retention == timedelta(days=7)
    # The workers' housekeeping thread, on its real schedule (shortened).
    housekeeping = Housekeeping(settings, sweep_every=0.05, first_purge_after=0)
    housekeeping.start()
    try:
        wait_for(lambda: count(db, "pending_statuses") == 1)
    finally:
        housekeeping.stop()
    left = db.execute("SELECT provider_message_id FROM pending_statuses").fetchall()
    assert left == [("wamid.foreign-2",)]
    # The stored events stay: their outcome still says the status was parked.
    assert count(db, "inbound_events", "outcome = 'parked'") == 3


def test_status_carrying_our_callback_id_finds_a_message_without_provider_id(
    client, tenant, db, worker
):
    from domain.outbox import callback_data

    message_id = _outbound(db, tenant)
    post(client, status_body("wamid.cb", "sent", 1_750_000_000, callback_data(message_id)))
    wait_for(all_processed(db))
    row = db.execute(
        "SELECT provider_message_id, delivery_status FROM messages WHERE id = %s", (message_id,)
    ).fetchone()
    assert row == ("wamid.cb", "sent")


def test_status_of_another_tenant_never_touches_this_tenants_message(client, tenant, db, worker):
    from db.tenants import create_tenant
    from domain.outbox import callback_data

    other = create_tenant(
        db,
        slug="other",
        name="Other",
        wa_phone_number_id="222",
        wa_app_secret="other-secret",
        wa_verify_token="t",
        wa_access_token="a",
    )
    message_id = _outbound(db, tenant)
    body = status_body("wamid.x", "read", 1_750_000_000, callback_data(message_id)).replace(
        b"106540352242922", b"222"
    )
    headers = signed_headers(body, "other-secret")
    assert client.post("/webhooks/whatsapp/other", data=body, headers=headers).status_code == 200
    wait_for(all_processed(db))
    assert delivery(db, message_id)[0] == "pending"
    assert db.execute("SELECT tenant_id FROM pending_statuses").fetchone()[0] == other.id


def test_another_tenants_statuses_for_our_wamid_do_not_swallow_ours(client, tenant, db, worker):
    from db.tenants import create_tenant

    create_tenant(
        db,
        slug="other",
        name="Other",
        wa_phone_number_id="222",
        wa_app_secret="other-secret",
        wa_verify_token="t",
        wa_access_token="a",
    )
    message_id = _outbound(db, tenant, "wamid.ours")
    # Another tenant, with its own secret, reports delivered and read for our message's wamid.
    for status, ts in (("delivered", 10), ("read", 20)):
        body = status_body("wamid.ours", status, 1_750_000_000 + ts).replace(
            b"106540352242922", b"222"
        )
        response = client.post(
            "/webhooks/whatsapp/other", data=body, headers=signed_headers(body, "other-secret")
        )
        assert response.status_code == 200
    wait_for(all_processed(db))
    assert delivery(db, message_id)[0] == "sent"
    # Meta's genuine statuses for our message still arrive and apply.
    for status, ts in (("delivered", 30), ("read", 40)):
        post(client, status_body("wamid.ours", status, 1_750_000_000 + ts))
    wait_for(all_processed(db))
    # delivered_at and read_at from our statuses (_outbound set `sent` without a time).
    assert delivery(db, message_id) == ("read", False, True, True, False)


def test_a_timestamp_in_year_9999_is_clamped_to_the_receive_time(client, tenant, db, worker):
    year_9999 = 253_402_300_799  # 9999-12-31T23:59:59Z
    envelope = json.loads(with_id("text.json", "wamid.future"))
    envelope["entry"][0]["changes"][0]["value"]["messages"][0]["timestamp"] = str(year_9999)
    post(client, json.dumps(envelope).encode())
    wait_for(all_processed(db))
    raw, ordered, received = db.execute(
        "SELECT provider_timestamp, ordered_at, received_at FROM messages"
    ).fetchone()
    assert raw == datetime.fromtimestamp(year_9999, UTC)  # the provider's value is kept
    assert ordered == received
    last_inbound, now = db.execute("SELECT last_inbound_at, now() FROM conversations").fetchone()
    # The 24-hour window runs from when we received it, so it closes like any other.
    assert last_inbound == received <= now
    # A message written after it is shown after it.
    time.sleep(1.1)
    later = json.loads(with_id("text.json", "wamid.later"))
    later["entry"][0]["changes"][0]["value"]["messages"][0]["timestamp"] = str(int(time.time()))
    post(client, json.dumps(later).encode())
    wait_for(all_processed(db))
    order = db.execute(
        "SELECT provider_message_id FROM messages"
        " ORDER BY ordered_at, received_at, envelope_position, id"
    ).fetchall()
    assert [r[0] for r in order] == ["wamid.future", "wamid.later"]
    assert db.execute("SELECT last_inbound_at <= now() FROM conversations").fetchone()[0]


def test_provider_error_is_recorded(client, tenant, db, worker):
    post(client, fixture_body("errors_value_level.json"))
    wait_for(all_processed(db))
    assert db.execute("SELECT outcome FROM inbound_events").fetchone()[0] == "provider_error:130429"


def test_retries_exhausted_land_in_dead_letters_and_requeue_completes(client, tenant, db, worker):
    from click.testing import CliRunner

    from actors.chain import enqueue
    from actors.ingest import ingest_event
    from ops.cli import main

    attempts_allowed = 2
    # Every message insert fails (as a broken dependency would) until the trigger is dropped.
    db.execute(
        "CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS"
        " $$BEGIN RAISE EXCEPTION 'storage refused'; END$$;"
        " CREATE TRIGGER refuse BEFORE INSERT ON messages FOR EACH ROW EXECUTE FUNCTION refuse()"
    )
    try:
        with db.transaction():
            event_id = db.execute(
                "INSERT INTO inbound_events (tenant_id, channel, kind, provider_event_id, payload)"
                " VALUES (%s, 'whatsapp', 'message', 'wamid.dead', %s) RETURNING id",
                (tenant.id, json.dumps(_message_item("wamid.dead"))),
            ).fetchone()[0]
            fast = ingest_event.message_with_options(
                args=(event_id,), max_retries=attempts_allowed, min_backoff=50, max_backoff=100
            )
            enqueue(db, [fast])
        wait_for(lambda: count(db, "dead_letters") == 1)
    finally:
        db.execute("DROP TRIGGER refuse ON messages; DROP FUNCTION refuse()")
    letter = db.execute(
        "SELECT id, actor, args, attempts, exception_text, tenant_id, state FROM dead_letters"
    ).fetchone()
    assert letter[1:] == (
        "ingest_event",
        [event_id],
        attempts_allowed + 1,
        letter[4],
        tenant.id,
        "dead",
    )
    assert "storage refused" in letter[4]
    assert count(db, "step_runs", "outcome = 'retry'") == attempts_allowed
    assert count(db, "step_runs", "outcome = 'failed'") == 1
    assert count(db, "messages") == 0

    runner = CliRunner()
    first = runner.invoke(main, ["dead-letters", "requeue", str(letter[0])])
    assert first.exit_code == 0, first.output
    second = runner.invoke(main, ["dead-letters", "requeue", str(letter[0])])
    assert "already" in second.output.lower()
    wait_for(all_processed(db))
    wait_for(lambda: count(db, "dead_letters", "state = 'resolved'") == 1)
    assert count(db, "messages") == 1
    assert count(db, "dead_letter_requeues") == 1
    assert count(db, "step_runs", "outcome = 'ok'") == 1


def test_unparseable_stored_event_is_a_permanent_failure(client, tenant, db, worker):
    from actors.chain import enqueue
    from actors.ingest import ingest_event

    with db.transaction():
        event_id = db.execute(
            "INSERT INTO inbound_events (tenant_id, channel, kind, provider_event_id, payload)"
            " VALUES (%s, 'whatsapp', 'message', 'wamid.broken', '{\"message\": {}}') RETURNING id",
            (tenant.id,),
        ).fetchone()[0]
        enqueue(db, [ingest_event.message(event_id)])
    wait_for(lambda: count(db, "dead_letters") == 1)
    attempts, exception_type = db.execute(
        "SELECT attempts, exception_type FROM dead_letters"
    ).fetchone()
    assert attempts == 1  # declared permanent: not retried
    assert exception_type.endswith("UnknownMessageShape")


def test_stored_message_with_an_oversize_sender_is_a_permanent_failure(client, tenant, db, worker):
    from actors.chain import enqueue
    from actors.ingest import ingest_event

    # A 300 KB wa_id can never be a contact's key (PostgreSQL's btree index holds ~2.7 KB):
    # dead-lettered at the first attempt, not retried for an hour as if transient.
    item = _message_item("wamid.oversize-sender")
    item["message"]["from"] = item["contact"]["wa_id"] = "1" + "0123456789" * 30_000
    with db.transaction():
        event_id = db.execute(
            "INSERT INTO inbound_events (tenant_id, channel, kind, provider_event_id, payload)"
            " VALUES (%s, 'whatsapp', 'message', 'wamid.oversize-sender', %s) RETURNING id",
            (tenant.id, json.dumps(item)),
        ).fetchone()[0]
        enqueue(db, [ingest_event.message(event_id)])
    wait_for(lambda: count(db, "dead_letters") == 1)
    attempts, exception_text = db.execute(
        "SELECT attempts, exception_text FROM dead_letters"
    ).fetchone()
    assert attempts == 1
    assert "message.from" in exception_text
    assert count(db, "contacts") == 0


def _message_item(wamid: str) -> dict:
    envelope = json.loads(fixture_body("text.json"))
    value = envelope["entry"][0]["changes"][0]["value"]
    message = dict(value["messages"][0], id=wamid)
    return {"message": message, "contact": value["contacts"][0], "metadata": value["metadata"]}


DERIVED_TYPES = {
    "audio": (
        {"audio": {"id": "aud-1", "mime_type": "audio/ogg; codecs=opus", "voice": True}},
        None,
    ),
    "video": (
        {"video": {"id": "vid-1", "mime_type": "video/mp4", "caption": "my knee"}},
        "my knee",
    ),
    "document": (
        {"document": {"id": "doc-1", "mime_type": "application/pdf", "filename": "rx.pdf"}},
        None,
    ),
    "sticker": ({"sticker": {"id": "stk-1", "mime_type": "image/webp", "animated": False}}, None),
    "contacts": (
        {"contacts": [{"name": {"formatted_name": "Ana Ruiz"}, "phones": [{"phone": "+1555"}]}]},
        "Ana Ruiz",
    ),
    "reaction": ({"reaction": {"message_id": "wamid.earlier", "emoji": "👍"}}, "👍"),
    "a_future_type": ({"a_future_type": {"x": 1}}, None),
}


def test_every_message_type_is_stored(client, tenant, db, worker):
    envelope = json.loads(fixture_body("text.json"))
    template = envelope["entry"][0]["changes"][0]["value"]["messages"][0]
    messages = []
    for n, (kind, (body, _)) in enumerate(DERIVED_TYPES.items()):
        item = {k: v for k, v in template.items() if k != "text"}
        messages.append({**item, "id": f"wamid.derived-{n}", "type": kind, **body})
    envelope["entry"][0]["changes"][0]["value"]["messages"] = messages
    post(client, json.dumps(envelope).encode())
    wait_for(all_processed(db))
    rows = db.execute(
        "SELECT m.type, m.text, m.media->>'media_id' FROM messages m"
        " JOIN inbound_events e ON e.id = m.inbound_event_id ORDER BY e.id"
    ).fetchall()
    expected_types = [k if k != "a_future_type" else "unsupported" for k in DERIVED_TYPES]
    assert [r[0] for r in rows] == expected_types
    for (_, text), row in zip(DERIVED_TYPES.values(), rows, strict=True):
        if text is not None:
            assert text in row[1]
    assert [r[2] for r in rows[:4]] == ["aud-1", "vid-1", "doc-1", "stk-1"]
