"""The quarantine pages: bodies shown safely, and replayed once with a record of who did it."""

import psycopg
from flask.testing import FlaskClient

from db.tenants import Tenant
from db.users import User
from tests.conftest import count, fixture_body, queued_jobs, signed_headers
from tests.webapp.admin.conftest import csrf_token
from tests.webapp.operations.conftest import audit_rows, insert_quarantine

HOSTILE = b'{"text": "<script>alert(1)</script>"}'


def test_a_body_is_shown_escaped(owner_client: FlaskClient, db, tenant: Tenant) -> None:
    body = insert_quarantine(db, tenant, HOSTILE, reason="<b>bad</b>")
    listed = owner_client.get("/t/acme/quarantine").get_data(as_text=True)
    assert "&lt;b&gt;bad&lt;/b&gt;" in listed and "<b>bad</b>" not in listed
    html = owner_client.get(f"/t/acme/quarantine/{body}").get_data(as_text=True)
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_a_binary_body_is_shown_as_hex_and_a_long_one_is_cut(
    owner_client: FlaskClient, db, tenant: Tenant
) -> None:
    binary = insert_quarantine(db, tenant, b"\x00\xff<script>" + bytes(range(256)) * 40)
    html = owner_client.get(f"/t/acme/quarantine/{binary}").get_data(as_text=True)
    assert "shown as hexadecimal bytes" in html
    assert "00 ff 3c 73 63 72 69 70 74 3e" in html
    assert "<script>" not in html.split('<pre class="body">')[1]
    assert "Cut: the body is longer" in html

    long_text = insert_quarantine(db, tenant, b"a" * (70 * 1024))
    html = owner_client.get(f"/t/acme/quarantine/{long_text}").get_data(as_text=True)
    assert "Cut: the body is longer" in html
    assert "a" * (64 * 1024) in html and "a" * (64 * 1024 + 1) not in html


def test_replay_stores_the_events_once_and_records_who(
    owner_client: FlaskClient, owner: User, db: psycopg.Connection, tenant: Tenant
) -> None:
    good = fixture_body("text.json")
    # Quarantined because it spoke for a phone number the tenant did not have yet.
    db.execute("UPDATE tenants SET wa_phone_number_id = '1' WHERE id = %s", (tenant.id,))
    webhook = owner_client.post("/webhooks/whatsapp/acme", data=good, headers=signed_headers(good))
    assert webhook.status_code == 200
    (body,) = db.execute("SELECT id FROM quarantine").fetchone()
    token = csrf_token(owner_client, "/t/acme/quarantine")

    still_bad = owner_client.post(
        f"/t/acme/quarantine/{body}/replay", data={"csrf_token": token}, follow_redirects=True
    )
    assert "Still not accepted: phone_number_id" in still_bad.get_data(as_text=True)
    assert count(db, "inbound_events") == 0
    assert db.execute("SELECT replayed_at FROM quarantine").fetchone()[0] is None

    db.execute(
        "UPDATE tenants SET wa_phone_number_id = '106540352242922' WHERE id = %s", (tenant.id,)
    )
    replayed = owner_client.post(
        f"/t/acme/quarantine/{body}/replay", data={"csrf_token": token}, follow_redirects=True
    )
    assert "Replayed: 1 new events queued." in replayed.get_data(as_text=True)
    again = owner_client.post(
        f"/t/acme/quarantine/{body}/replay", data={"csrf_token": token}, follow_redirects=True
    )
    assert "Already replayed." in again.get_data(as_text=True)
    assert count(db, "inbound_events") == 1
    assert [actor for _, actor, _ in queued_jobs(db)] == ["ingest_event"]
    outcomes = [(r[0], r[1], r[2], r[3], r[4]["outcome"]) for r in audit_rows(db)]
    target = f"quarantine:{body}"
    assert outcomes == [
        (tenant.id, owner.id, "quarantine.replay", target, "unparseable"),
        (tenant.id, owner.id, "quarantine.replay", target, "replayed"),
        (tenant.id, owner.id, "quarantine.replay", target, "already_replayed"),
    ]
    listed = owner_client.get("/t/acme/quarantine").get_data(as_text=True)
    assert "Nothing in quarantine." in listed
    assert f"#{body}<" in owner_client.get("/t/acme/quarantine?all=1").get_data(as_text=True)


def test_the_operator_sees_every_tenants_bodies(
    operator_client: FlaskClient, db, tenant: Tenant, other_tenant: Tenant
) -> None:
    acme = insert_quarantine(db, tenant, b"acme")
    globex = insert_quarantine(db, other_tenant, b"globex")
    html = operator_client.get("/ops/quarantine").get_data(as_text=True)
    assert f"#{acme}<" in html and f"#{globex}<" in html
    html = operator_client.get("/ops/quarantine?tenant=globex").get_data(as_text=True)
    assert f"#{acme}<" not in html and f"#{globex}<" in html
