"""The composer's send routes with Flask's client: one message and one send job per composed
message, within the window, quoting only this conversation's messages, templates outside it."""

from datetime import timedelta

import psycopg
from flask.testing import FlaskClient

from db.tenants import Tenant
from tests.conftest import count, queued_jobs
from tests.webapp.compose.conftest import Thread, audit, compose_key, open_thread, panel, post


def outbound(db: psycopg.Connection) -> list[tuple]:
    return db.execute(
        "SELECT type, text, delivery_status, sent_by_user_id, reply_to, details"
        " FROM messages WHERE direction = 'out' ORDER BY id"
    ).fetchall()


def send_jobs(db: psycopg.Connection) -> list[list]:
    return [args for _, actor, args in queued_jobs(db) if actor == "send_message"]


def status(db: psycopg.Connection, thread: Thread) -> tuple:
    return db.execute(
        "SELECT status, assigned_user_id FROM conversations WHERE id = %s", (thread.id,)
    ).fetchone()


def test_the_panel_shows_the_status_and_the_time_left(agent_client: FlaskClient, thread, db):
    page = panel(agent_client, thread)
    assert "With the assistant" in page or "Con el asistente" in page
    assert 'name="compose_key"' in page
    # The customer wrote 5 minutes ago: 23 h 55 min (or 54, as the clock turns) are left.
    assert "23 h 5" in page
    assert f'hx-trigger="live:conversation[detail.conversation_id=={thread.id}] from:body"' in page


def test_a_live_refresh_keeps_the_key_of_the_draft(agent_client: FlaskClient, thread):
    key = compose_key(panel(agent_client, thread))
    assert compose_key(panel(agent_client, thread, compose_key=key)) == key
    assert compose_key(panel(agent_client, thread)) != key


def test_sending_inserts_the_message_and_its_send_job_together(
    agent_client: FlaskClient, agent, thread, db
):
    key = compose_key(panel(agent_client, thread))
    response = post(agent_client, thread, "messages", compose_key=key, text="  Hola Ana  ")
    assert response.status_code == 303
    assert response.headers["Location"] == thread.url
    ((kind, text, delivery, by, reply_to, details),) = outbound(db)
    assert (kind, text, delivery, by, reply_to) == ("text", "Hola Ana", "pending", agent.id, None)
    assert details == {"author": "agent"}
    (message_id,) = db.execute("SELECT id FROM messages WHERE compose_key = %s", (key,)).fetchone()
    assert send_jobs(db) == [[message_id]]
    # The bot never talks over a person: the conversation is a person's now, and the agent's.
    assert status(db, thread) == ("handoff", agent.id)
    assert count(db, "agent_notifications") == 1
    assert [(a, t, u) for a, t, u, _ in audit(db)] == [
        ("message.send", f"conversation:{thread.id}", agent.id)
    ]


def test_a_double_submit_sends_once(agent_client: FlaskClient, thread, db):
    key = compose_key(panel(agent_client, thread))
    first = post(agent_client, thread, "messages", compose_key=key, text="una vez", htmx=True)
    second = post(agent_client, thread, "messages", compose_key=key, text="una vez", htmx=True)
    again = post(agent_client, thread, "messages", compose_key=key, text="una vez")
    assert (first.status_code, second.status_code, again.status_code) == (200, 200, 303)
    assert len(outbound(db)) == 1
    assert len(send_jobs(db)) == 1
    assert len(audit(db)) == 1
    # Each answer carries a new key for the next message, and tells compose.js the draft went.
    assert compose_key(second.get_data(as_text=True)) != key
    assert 'data-sent="1"' in second.get_data(as_text=True)


def test_without_the_csrf_token_nothing_is_sent(agent_client: FlaskClient, thread, db):
    key = compose_key(panel(agent_client, thread))
    response = post(agent_client, thread, "messages", token=False, compose_key=key, text="hola")
    assert response.status_code == 400
    assert outbound(db) == [] and send_jobs(db) == []
    assert status(db, thread) == ("open", None)


def test_a_missing_or_malformed_key_is_refused(agent_client: FlaskClient, thread, db):
    assert post(agent_client, thread, "messages", text="hola").status_code == 400
    assert post(agent_client, thread, "messages", compose_key="x", text="hola").status_code == 400
    assert outbound(db) == []


def test_an_empty_message_is_refused_in_the_panel(agent_client: FlaskClient, thread, db):
    key = compose_key(panel(agent_client, thread))
    response = post(agent_client, thread, "messages", compose_key=key, text="   ", htmx=True)
    assert response.status_code == 400
    assert response.headers["X-Recado-Panel"] == "1"
    page = response.get_data(as_text=True)
    assert 'role="alert"' in page
    # Not sent: the same key, so posting the fixed draft still sends once.
    assert compose_key(page) == key
    assert outbound(db) == []


def test_another_tenants_conversation_is_not_found(
    agent_client: FlaskClient, other_tenant: Tenant, tenant: Tenant, db
):
    theirs = open_thread(db, other_tenant)
    # Their conversation's id under our tenant's URL.
    ours = Thread(tenant, theirs.id, theirs.inbound_id, theirs.inbound_wamid)
    key = "8a0f7b0e-2f43-4c41-9d3f-4f7d0bb1e3a1"
    assert agent_client.get(f"{ours.url}/composer").status_code == 404
    assert post(agent_client, ours, "messages", compose_key=key, text="hola").status_code == 404
    assert outbound(db) == [] and send_jobs(db) == []


def test_a_reply_quotes_a_message_of_the_conversation(agent_client: FlaskClient, thread, db):
    key = compose_key(panel(agent_client, thread))
    response = post(
        agent_client, thread, "messages", compose_key=key, text="sí",
        reply_to_message_id=thread.inbound_id,
    )  # fmt: skip
    assert response.status_code == 303
    ((_, _, _, _, reply_to, details),) = outbound(db)
    assert reply_to == thread.inbound_wamid
    assert details["reply_to_message_id"] == thread.inbound_id


def test_quoting_a_message_of_another_conversation_is_not_found(
    agent_client: FlaskClient, thread, db, tenant, other_tenant
):
    elsewhere = open_thread(db, tenant, customer="5215500000009")
    theirs = open_thread(db, other_tenant)
    for foreign in (elsewhere.inbound_id, theirs.inbound_id):
        key = compose_key(panel(agent_client, thread))
        response = post(
            agent_client, thread, "messages", compose_key=key, text="sí",
            reply_to_message_id=foreign,
        )  # fmt: skip
        assert response.status_code == 404
    assert outbound(db) == [] and send_jobs(db) == []


def test_a_message_not_yet_on_whatsapp_cannot_be_quoted(agent_client: FlaskClient, thread, db):
    key = compose_key(panel(agent_client, thread))
    post(agent_client, thread, "messages", compose_key=key, text="primero")
    (pending,) = db.execute("SELECT id FROM messages WHERE direction = 'out'").fetchone()
    key = compose_key(panel(agent_client, thread))
    response = post(
        agent_client, thread, "messages", compose_key=key, text="segundo",
        reply_to_message_id=pending,
    )  # fmt: skip
    assert response.status_code == 400
    assert len(outbound(db)) == 1


def add_template(db: psycopg.Connection, tenant: Tenant, body: str, parameters: list[str]) -> int:
    return db.execute(
        "INSERT INTO message_templates (tenant_id, name, language, body, parameters)"
        " VALUES (%s, 'cita_recordatorio', 'es', %s, %s) RETURNING id",
        (tenant.id, body, parameters),
    ).fetchone()[0]


def test_outside_the_window_free_text_is_refused_and_templates_offered(
    agent_client: FlaskClient, db, tenant
):
    thread = open_thread(db, tenant, wrote_ago=timedelta(hours=25))
    add_template(db, tenant, "Hola {{1}}, <script>alert(1)</script> su cita es el {{2}}.",
                 ["<b>nombre</b>", "fecha"])  # fmt: skip
    page = panel(agent_client, thread)
    assert 'name="text"' not in page
    assert 'name="template_id"' in page and 'name="parameter_1"' in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page and "<script>alert" not in page
    assert "&lt;b&gt;nombre&lt;/b&gt;" in page
    key = compose_key(page)
    response = post(agent_client, thread, "messages", compose_key=key, text="hola")
    assert response.status_code == 400
    response = post(agent_client, thread, "messages", compose_key=key, text="hola", htmx=True)
    assert response.status_code == 400
    assert 'name="template_id"' in response.get_data(as_text=True)
    assert outbound(db) == [] and send_jobs(db) == []


def test_a_template_message_carries_its_parameters(agent_client: FlaskClient, agent, db, tenant):
    thread = open_thread(db, tenant, wrote_ago=timedelta(days=3))
    template_id = add_template(db, tenant, "Hola {{1}}, su cita es el {{2}}.", ["nombre", "fecha"])
    key = compose_key(panel(agent_client, thread))
    response = post(
        agent_client, thread, "template-messages", compose_key=key, template_id=template_id,
        parameter_0="Ana", parameter_1="lunes 9:00",
    )  # fmt: skip
    assert response.status_code == 303
    again = post(
        agent_client, thread, "template-messages", compose_key=key, template_id=template_id,
        parameter_0="Ana", parameter_1="lunes 9:00",
    )  # fmt: skip
    assert again.status_code == 303
    ((kind, text, delivery, by, _, details),) = outbound(db)
    assert (kind, text, delivery, by) == (
        "template", "Hola Ana, su cita es el lunes 9:00.", "pending", agent.id
    )  # fmt: skip
    assert details["template"] == {
        "name": "cita_recordatorio",
        "language": "es",
        "components": [
            {"type": "body", "parameters": [
                {"type": "text", "text": "Ana"}, {"type": "text", "text": "lunes 9:00"},
            ]},
        ],
    }  # fmt: skip
    assert len(send_jobs(db)) == 1
    assert status(db, thread) == ("handoff", agent.id)


def test_a_template_parameter_meta_would_refuse_is_refused(agent_client: FlaskClient, db, tenant):
    thread = open_thread(db, tenant, wrote_ago=timedelta(days=3))
    template_id = add_template(db, tenant, "Hola {{1}}", ["nombre"])
    key = compose_key(panel(agent_client, thread))
    for value in ("", "dos\nlíneas"):
        response = post(
            agent_client, thread, "template-messages", compose_key=key,
            template_id=template_id, parameter_0=value,
        )  # fmt: skip
        assert response.status_code == 400
    assert outbound(db) == []


def test_another_tenants_template_is_not_found(agent_client: FlaskClient, db, tenant, other_tenant):
    thread = open_thread(db, tenant, wrote_ago=timedelta(days=3))
    theirs = add_template(db, other_tenant, "Hola {{1}}", ["nombre"])
    # Our tenant has no template: the panel offers none, so no form (and no key) to read.
    assert 'name="template_id"' not in panel(agent_client, thread)
    key = "3f1d2c4b-5a69-4b7c-8d9e-0f1a2b3c4d5e"
    response = post(
        agent_client, thread, "template-messages", compose_key=key, template_id=theirs,
        parameter_0="Ana",
    )  # fmt: skip
    assert response.status_code == 404
    assert outbound(db) == []


def test_a_closed_conversation_takes_no_message(agent_client: FlaskClient, thread, db):
    db.execute("UPDATE conversations SET status = 'closed' WHERE id = %s", (thread.id,))
    key = "0d7c9d5e-0f7e-4d0b-8f53-2a4a8c9e7b10"
    response = post(agent_client, thread, "messages", compose_key=key, text="hola")
    assert response.status_code == 409
    assert outbound(db) == []


def test_canned_replies_are_offered_filled_and_escaped(agent_client: FlaskClient, thread, db):
    db.execute(
        "INSERT INTO canned_replies (tenant_id, title, body) VALUES (%s, %s, %s)",
        (thread.tenant.id, "<script>t</script>", "Hola {first_name}, soy de {business} <i>x</i>"),
    )
    page = panel(agent_client, thread)
    assert "&lt;script&gt;t&lt;/script&gt;" in page and "<script>t" not in page
    assert 'data-body="Hola Ana, soy de Acme Clinic &lt;i&gt;x&lt;/i&gt;"' in page
