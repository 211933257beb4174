"""The queue page and the operator's overview: backlogs, throughput, breakers, paused sending."""

import uuid

import psycopg
from flask.testing import FlaskClient

from db.tenants import Tenant
from db.users import User
from tests.webapp.admin.conftest import csrf_token
from tests.webapp.operations.conftest import audit_rows, insert_letter, insert_quarantine


def pending_send(db: psycopg.Connection, tenant: Tenant) -> int:
    contact = db.execute(
        "INSERT INTO contacts (tenant_id, channel, channel_user_id) VALUES (%s, 'whatsapp', %s)"
        " RETURNING id",
        (tenant.id, uuid.uuid4().hex),
    ).fetchone()[0]
    conversation = db.execute(
        "INSERT INTO conversations (tenant_id, contact_id, channel) VALUES (%s, %s, 'whatsapp')"
        " RETURNING id",
        (tenant.id, contact),
    ).fetchone()[0]
    return db.execute(
        "INSERT INTO messages (tenant_id, conversation_id, channel, direction, type, text,"
        " delivery_status) VALUES (%s, %s, 'whatsapp', 'out', 'text', 'hi', 'pending')"
        " RETURNING id",
        (tenant.id, conversation),
    ).fetchone()[0]


def step_run(db: psycopg.Connection, tenant: Tenant, outcome: str) -> None:
    db.execute(
        "INSERT INTO step_runs (actor, message_id, attempt, started_at, finished_at, outcome,"
        " tenant_id) VALUES ('ingest_event', %s, 1, now(), now(), %s, %s)",
        (uuid.uuid4(), outcome, tenant.id),
    )


def test_the_queue_page_shows_the_tenants_backlog_and_throughput(
    owner_client: FlaskClient, db, tenant: Tenant, other_tenant: Tenant
) -> None:
    pending_send(db, tenant)
    pending_send(db, other_tenant)
    pending_send(db, other_tenant)
    step_run(db, tenant, "ok")
    step_run(db, tenant, "retry")
    step_run(db, other_tenant, "ok")
    html = owner_client.get("/t/acme/queue").get_data(as_text=True)
    assert "in the last minute: 1 ok, 1 failed or retried." in html.lower()
    assert 'href="/t/acme/queue">1</a>' in html
    assert "Globex" not in html
    assert "Sending is on." in html and "All breakers closed." in html


def test_an_open_breaker_is_closed_from_the_page(
    owner_client: FlaskClient, owner: User, db, tenant: Tenant
) -> None:
    db.execute(
        "INSERT INTO circuit_breakers (tenant_id, channel, state, failures, until)"
        " VALUES (%s, 'whatsapp', 'open', 5, now() + interval '5 minutes')",
        (tenant.id,),
    )
    html = owner_client.get("/t/acme/queue").get_data(as_text=True)
    assert "/t/acme/queue/breakers/whatsapp/resume" in html
    token = csrf_token(owner_client, "/t/acme/queue")
    response = owner_client.post(
        "/t/acme/queue/breakers/whatsapp/resume",
        data={"csrf_token": token, "next": "/t/acme/queue?"},
        follow_redirects=True,
    )
    assert "Breaker closed: sending on whatsapp resumes." in response.get_data(as_text=True)
    assert db.execute("SELECT state, failures FROM circuit_breakers").fetchone() == ("closed", 0)
    assert audit_rows(db) == [
        (
            tenant.id,
            owner.id,
            "breaker.resume",
            "breaker:whatsapp",
            {"was": "open", "failures": 5},
        )
    ]
    again = owner_client.post(
        "/t/acme/queue/breakers/whatsapp/resume", data={"csrf_token": token}, follow_redirects=True
    )
    assert "That breaker is already closed." in again.get_data(as_text=True)
    assert len(audit_rows(db)) == 1


def test_paused_sending_is_resumed_and_the_held_sends_requeued(
    owner_client: FlaskClient, owner: User, db, tenant: Tenant
) -> None:
    message = pending_send(db, tenant)
    db.execute(
        "UPDATE tenants SET sending_paused_at = now() - interval '1 minute',"
        " sending_paused_reason = 'access token rejected' WHERE id = %s",
        (tenant.id,),
    )
    held = insert_letter(db, tenant, actor="send_message", args=[message])
    html = owner_client.get("/t/acme/queue").get_data(as_text=True)
    assert "access token rejected" in html
    token = csrf_token(owner_client, "/t/acme/queue")
    response = owner_client.post(
        "/t/acme/queue/resume-sending", data={"csrf_token": token}, follow_redirects=True
    )
    assert "Sending resumed; 1 waiting sends requeued." in response.get_data(as_text=True)
    assert db.execute("SELECT sending_paused_at FROM tenants").fetchone()[0] is None
    assert db.execute(
        "SELECT d.state, r.requeued_by FROM dead_letters d"
        " JOIN dead_letter_requeues r ON r.dead_letter_id = d.id WHERE d.id = %s",
        (held,),
    ).fetchone() == ("requeued", owner.email)
    assert audit_rows(db) == [
        (
            tenant.id,
            owner.id,
            "sending.resume",
            "tenant:acme",
            {"requeued": 1, "paused_reason": "access token rejected"},
        )
    ]


def test_the_operator_sees_the_broker_and_every_tenant(
    operator_client: FlaskClient, db, tenant: Tenant, other_tenant: Tenant
) -> None:
    insert_letter(db, tenant)
    insert_letter(db, other_tenant)
    insert_letter(db, other_tenant)
    insert_quarantine(db, other_tenant, b"x")
    db.execute("UPDATE tenants SET sending_paused_at = now() WHERE id = %s", (other_tenant.id,))
    letter = insert_letter(db, tenant)
    token = csrf_token(operator_client, "/ops/queue")
    operator_client.post(f"/ops/dead-letters/{letter}/requeue", data={"csrf_token": token})

    overview = operator_client.get("/ops").get_data(as_text=True)
    assert 'href="/t/acme/dead-letters" class="alert">1</a>' in overview
    assert 'href="/t/globex/dead-letters" class="alert">2</a>' in overview
    assert 'href="/t/globex/quarantine" class="alert">1</a>' in overview
    assert overview.count(">paused<") == 1
    queue = operator_client.get("/ops/queue").get_data(as_text=True)
    assert "Jobs by state (all tenants)" in queue
    assert "<td>ingest</td><td>queued</td><td>1</td>" in queue
    assert "Oldest waiting job: queued" in queue
    filtered = operator_client.get("/ops/queue?tenant=acme").get_data(as_text=True)
    assert "Jobs by state" not in filtered and "Globex Dental <span" not in filtered
