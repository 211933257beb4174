"""The WhatsApp webhook: a 2xx means stored with its first job; anything else stored nothing."""

import hashlib
import json
import logging
import threading
from collections import Counter

import httpx
import pytest

from tests.conftest import count, fixture_body, queued_jobs, signed_headers

URL = "/webhooks/whatsapp/acme"


def post(client, body: bytes, headers: dict[str, str] | None = None):
    return client.post(URL, data=body, headers=signed_headers(body) if headers is None else headers)


def test_handshake_echoes_the_challenge(client, tenant):
    response = client.get(
        URL,
        query_string={
            "hub.mode": "subscribe",
            "hub.verify_token": "acme-verify-token",
            "hub.challenge": "1158201444",
        },
    )
    assert response.status_code == 200
    assert response.get_data(as_text=True) == "1158201444"


@pytest.mark.parametrize(
    ("mode", "token"), [("subscribe", "wrong"), ("unsubscribe", "acme-verify-token"), (None, None)]
)
def test_handshake_refuses_a_wrong_token_or_mode(client, tenant, mode, token):
    params = {"hub.challenge": "42"}
    if mode:
        params |= {"hub.mode": mode, "hub.verify_token": token}
    assert client.get(URL, query_string=params).status_code == 403


def test_unknown_tenant_is_404_for_both_verbs(client, tenant, db):
    body = fixture_body("text.json")
    assert client.get("/webhooks/whatsapp/nobody").status_code == 404
    assert post(client, body, signed_headers(body)).status_code == 200
    assert (
        client.post(
            "/webhooks/whatsapp/nobody", data=body, headers=signed_headers(body)
        ).status_code
        == 404
    )


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"X-Hub-Signature-256": "sha256=" + "0" * 64},
        {"X-Hub-Signature-256": "sha1=abc"},
        {"X-Hub-Signature-256": "garbage"},
    ],
    ids=["missing", "wrong", "other-algorithm", "malformed"],
)
def test_bad_signature_is_401_and_stores_nothing(client, tenant, db, headers):
    response = post(client, fixture_body("text.json"), headers)
    assert response.status_code == 401
    assert count(db, "inbound_events") == 0
    assert count(db, "quarantine") == 0
    assert queued_jobs(db) == []


def test_signature_of_another_tenant_is_401(client, tenant, db):
    body = fixture_body("text.json")
    assert post(client, body, signed_headers(body, "someone-elses-secret")).status_code == 401
    assert count(db, "inbound_events") == 0


def test_tampered_body_is_401(client, tenant, db):
    body = fixture_body("text.json")
    headers = signed_headers(body)
    assert (
        post(client, body.replace(b"Does it come in another color?", b"evil"), headers).status_code
        == 401
    )
    assert count(db, "inbound_events") == 0


def test_body_over_one_mebibyte_is_413(client, tenant, db):
    body = b'{"object": "whatsapp_business_account", "pad": "' + b"x" * (1024 * 1024) + b'"}'
    assert post(client, body).status_code == 413
    assert count(db, "inbound_events") == 0
    assert count(db, "quarantine") == 0


def test_message_is_stored_with_its_first_job(client, tenant, db):
    assert post(client, fixture_body("text.json")).status_code == 200
    events = db.execute(
        "SELECT id, tenant_id, channel, kind, provider_event_id FROM inbound_events"
    ).fetchall()
    assert len(events) == 1
    event_id, tenant_id, channel, kind, provider_id = events[0]
    assert (tenant_id, channel, kind) == (tenant.id, "whatsapp", "message")
    assert provider_id.startswith("wamid.")
    assert queued_jobs(db) == [("ingest", "ingest_event", [event_id])]


def test_message_job_carries_ids_only(client, tenant, db):
    post(client, fixture_body("text.json"))
    (message,) = db.execute("SELECT message::text FROM dramatiq.queue").fetchone()
    assert "16505551234" not in message
    assert "Does it come in another color?" not in message


def test_statuses_and_errors_get_their_own_steps(client, tenant, db):
    assert post(client, fixture_body("status_failed.json")).status_code == 200
    assert post(client, fixture_body("errors_value_level.json")).status_code == 200
    actors = sorted(actor for _, actor, _ in queued_jobs(db))
    assert actors == ["apply_status", "record_provider_error"]


def test_redelivery_answers_200_and_creates_nothing(client, tenant, db):
    body = fixture_body("image.json")
    for _ in range(3):
        assert post(client, body).status_code == 200
    assert count(db, "inbound_events") == 1
    assert len(queued_jobs(db)) == 1


def test_concurrent_duplicate_deliveries_store_one_event_and_one_job(live_server, tenant, db):
    body = fixture_body("interactive_button_reply.json")
    headers = signed_headers(body)
    statuses: list[int] = []
    start = threading.Barrier(16)

    def deliver() -> None:
        start.wait()
        statuses.append(
            httpx.post(f"{live_server}{URL}", content=body, headers=headers).status_code
        )

    threads = [threading.Thread(target=deliver) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert statuses == [200] * 16
    assert count(db, "inbound_events") == 1
    assert len(queued_jobs(db)) == 1


def test_envelope_items_are_stored_in_one_transaction(client, tenant, db):
    envelope = json.loads(fixture_body("text.json"))
    messages = envelope["entry"][0]["changes"][0]["value"]["messages"]
    template = messages[0]
    messages[:] = [dict(template, id=f"wamid.batch-{n}") for n in range(250)]
    assert post(client, json.dumps(envelope).encode()).status_code == 200
    assert count(db, "inbound_events") == 250
    assert len(queued_jobs(db)) == 250


def test_failure_to_enqueue_rolls_back_the_event_and_answers_5xx(client, tenant, db):
    # The job insert fails after the event insert succeeded: neither may remain.
    db.execute(
        "ALTER TABLE dramatiq.queue ADD CONSTRAINT refuse_ingest CHECK (queue_name <> 'ingest')"
    )
    try:
        client.application.config["PROPAGATE_EXCEPTIONS"] = False
        response = post(client, fixture_body("text.json"))
    finally:
        db.execute("ALTER TABLE dramatiq.queue DROP CONSTRAINT refuse_ingest")
    assert response.status_code == 500
    assert count(db, "inbound_events") == 0
    assert queued_jobs(db) == []
    # The provider's retry then lands normally.
    assert post(client, fixture_body("text.json")).status_code == 200
    assert count(db, "inbound_events") == 1
    assert len(queued_jobs(db)) == 1


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"this is not json", "JSON"),
        (b'{"object": "page", "entry": []}', "object"),
        (b'{"object": "whatsapp_business_account", "entry": "nope"}', "entry"),
        (b"\xff\xfe\x00bad bytes", ""),
    ],
    ids=["not-json", "wrong-object", "wrong-shape", "not-utf8"],
)
def test_signed_but_unparseable_body_is_quarantined_not_dropped(client, tenant, db, body, reason):
    assert post(client, body).status_code == 200
    rows = db.execute("SELECT tenant_id, reason, body FROM quarantine").fetchall()
    assert len(rows) == 1
    tenant_id, stored_reason, stored_body = rows[0]
    assert tenant_id == tenant.id
    assert reason in stored_reason
    assert bytes(stored_body) == body
    assert count(db, "inbound_events") == 0
    assert queued_jobs(db) == []


def test_signed_body_about_another_phone_number_is_quarantined(client, tenant, db):
    body = fixture_body("text.json").replace(b"106540352242922", b"999999999999999")
    assert post(client, body).status_code == 200
    (reason,) = db.execute("SELECT reason FROM quarantine").fetchone()
    assert "999999999999999" in reason
    assert count(db, "inbound_events") == 0


def test_envelope_without_message_fields_is_acknowledged_without_work(client, tenant, db):
    body = json.dumps(
        {"object": "whatsapp_business_account", "entry": [{"id": "1", "changes": []}]}
    ).encode()
    assert post(client, body).status_code == 200
    assert count(db, "inbound_events") == 0
    assert count(db, "quarantine") == 0


def test_signed_body_postgres_cannot_store_as_json_is_quarantined(client, tenant, db):
    # jsonb refuses \u0000; the body is still kept (as bytes) and the other items are not lost.
    body = fixture_body("text.json").replace(
        b"Does it come in another color?", b"Does it come\\u0000 in another color?"
    )
    assert post(client, body).status_code == 200
    (reason, stored) = db.execute("SELECT reason, body FROM quarantine").fetchone()
    assert "not storable" in reason
    assert "color" not in reason
    assert bytes(stored) == body
    assert count(db, "inbound_events") == 0
    assert queued_jobs(db) == []


# --- hostile values: huge integers, oversize ids, concurrent envelopes ------------------------


def incompressible(size: int, seed: str = "") -> str:
    # PostgreSQL compresses index entries; random hex does not shrink under the btree limit.
    return hashlib.shake_256(f"{seed}{size}".encode()).hexdigest(size // 2 + 1)[:size]


def test_signed_body_with_a_huge_integer_is_quarantined(client, tenant, db):
    # Python's int() refuses more than 4,300 digits; the body is authenticated, so it is kept.
    body = fixture_body("text.json").replace(b'"timestamp": "1749416383"', b'"n": ' + b"7" * 4301)
    assert post(client, body).status_code == 200
    (reason, stored) = db.execute("SELECT reason, body FROM quarantine").fetchone()
    assert "digits" in reason
    assert bytes(stored) == body
    assert count(db, "inbound_events") == 0
    assert queued_jobs(db) == []


@pytest.mark.parametrize(
    ("where", "field"),
    [
        ("message", "id"),
        ("message", "from"),
        ("message", "from_user_id"),
        ("status", "id"),
        ("status", "biz_opaque_callback_data"),
    ],
)
def test_oversize_id_is_quarantined_and_the_rest_of_the_envelope_is_stored(
    client, tenant, db, where, field
):
    # 300 KB, far past the ~2.7 KB a btree index entry can hold.
    huge = incompressible(300_000, field)
    envelope = json.loads(fixture_body("text.json"))
    value = envelope["entry"][0]["changes"][0]["value"]
    legitimate = dict(value["messages"][0], id="wamid.legitimate")
    if where == "message":
        value["messages"] = [{**legitimate, "id": "wamid.hostile", field: huge}, legitimate]
    else:
        value["statuses"] = [
            {"id": "wamid.out", "status": "sent", "timestamp": "1749416383", field: huge}
        ]
        value["messages"] = [legitimate]
    body = json.dumps(envelope).encode()
    assert post(client, body).status_code == 200
    stored = db.execute("SELECT provider_event_id FROM inbound_events").fetchall()
    assert stored == [("wamid.legitimate",)]
    assert len(queued_jobs(db)) == 1
    (reason, kept) = db.execute("SELECT reason, body FROM quarantine").fetchone()
    assert f"{where}.{field}" in reason
    assert huge not in reason
    assert bytes(kept) == body
    # The provider's redelivery stores nothing twice and keeps the body aside again.
    assert post(client, body).status_code == 200
    assert count(db, "inbound_events") == 1
    assert len(queued_jobs(db)) == 1


def test_a_deadlock_is_retried_inside_the_request(client, tenant, db, caplog):
    # The first insert loses a deadlock (as PostgreSQL reports it); the request runs again.
    db.execute(
        "CREATE SEQUENCE lose_once;"
        " CREATE FUNCTION lose_once() RETURNS trigger LANGUAGE plpgsql AS $$BEGIN"
        "  IF nextval('lose_once') = 1 THEN"
        "   RAISE EXCEPTION 'deadlock detected' USING ERRCODE = 'deadlock_detected';"
        "  END IF; RETURN NEW; END$$;"
        " CREATE TRIGGER lose_once BEFORE INSERT ON inbound_events"
        "  FOR EACH ROW EXECUTE FUNCTION lose_once()"
    )
    try:
        response = post(client, fixture_body("text.json"))
    finally:
        db.execute(
            "DROP TRIGGER lose_once ON inbound_events; DROP FUNCTION lose_once();"
            " DROP SEQUENCE lose_once"
        )
    assert response.status_code == 200
    assert count(db, "inbound_events") == 1
    assert len(queued_jobs(db)) == 1
    assert "DeadlockDetected, running the transaction again" in caplog.text


def test_one_envelope_posted_concurrently_in_opposite_orders_stores_each_event_once(
    live_server, tenant, db, caplog
):
    envelope = json.loads(fixture_body("text.json"))
    messages = envelope["entry"][0]["changes"][0]["value"]["messages"]
    items = [dict(messages[0], id=f"wamid.both-ways-{n}") for n in range(200)]
    bodies = []
    for order in (items, items[::-1]):
        messages[:] = order
        bodies.append(json.dumps(envelope).encode())
    statuses: list[int] = []
    start = threading.Barrier(16)

    def deliver(body: bytes) -> None:
        start.wait()
        response = httpx.post(
            f"{live_server}{URL}", content=body, headers=signed_headers(body), timeout=30
        )
        statuses.append(response.status_code)

    # A millisecond per row (as on a loaded server) keeps the deliveries' inserts overlapping:
    # in the order each body lists its items, two of them would wait for each other.
    db.execute(
        "CREATE FUNCTION slow_insert() RETURNS trigger LANGUAGE plpgsql AS"
        " $$BEGIN PERFORM pg_sleep(0.001); RETURN NEW; END$$;"
        " CREATE TRIGGER slow_insert BEFORE INSERT ON inbound_events"
        "  FOR EACH ROW EXECUTE FUNCTION slow_insert()"
    )
    threads = [threading.Thread(target=deliver, args=(bodies[n % 2],)) for n in range(16)]
    try:
        with caplog.at_level(logging.WARNING, logger="webapp"):
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
    finally:
        db.execute("DROP TRIGGER slow_insert ON inbound_events; DROP FUNCTION slow_insert()")
    assert Counter(statuses) == {200: 16}
    assert count(db, "inbound_events") == 200
    assert len(queued_jobs(db)) == 200
    # Inserted in one canonical order, the deliveries never even deadlocked.
    assert [r.getMessage() for r in caplog.records if "again" in r.getMessage()] == []
