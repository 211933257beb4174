"""The composer end to end: the form, a real worker, the Graph API simulator over HTTP."""

from datetime import timedelta

import psycopg
from flask.testing import FlaskClient

from tests.actors.test_plan_reply import chat_calls, idle, say, sent_texts, wait_for
from tests.webapp.compose.conftest import Thread, compose_key, open_thread, panel, post


def delivery(db: psycopg.Connection) -> list[str]:
    """Each outbound message's status, `sent` once the provider took it (delivered, read...)."""
    return [
        "sent" if status in ("sent", "delivered", "read") else status
        for (status,) in db.execute(
            "SELECT delivery_status FROM messages WHERE direction = 'out' ORDER BY id"
        )
    ]


def test_a_double_submitted_reply_reaches_whatsapp_once_quoting_the_message(
    agent_client: FlaskClient, db, tenant, graph, worker
):
    thread = open_thread(db, tenant)
    key = compose_key(panel(agent_client, thread))
    for htmx in (True, True, False):
        response = post(
            agent_client, thread, "messages", htmx=htmx, compose_key=key, text="Hola, soy Marta",
            reply_to_message_id=thread.inbound_id,
        )  # fmt: skip
        assert response.status_code in (200, 303)
    wait_for(lambda: delivery(db) == ["sent"], what="the reply sent")
    wait_for(lambda: idle(db), what="queue drained")
    (sent,) = graph.sent()
    assert sent.request["text"]["body"] == "Hola, soy Marta"
    assert sent.request["context"] == {"message_id": thread.inbound_wamid}
    assert sent.request["to"] == "5215512345678"


def test_a_template_reaches_whatsapp_as_meta_takes_it(
    agent_client: FlaskClient, db, tenant, graph, worker
):
    thread: Thread = open_thread(db, tenant, wrote_ago=timedelta(days=2))
    template_id = db.execute(
        "INSERT INTO message_templates (tenant_id, name, language, body, parameters)"
        " VALUES (%s, 'cita_recordatorio', 'es', 'Hola {{1}}, su cita es el {{2}}.', %s)"
        " RETURNING id",
        (tenant.id, ["nombre", "fecha"]),
    ).fetchone()[0]
    key = compose_key(panel(agent_client, thread))
    response = post(
        agent_client, thread, "template-messages", compose_key=key, template_id=template_id,
        parameter_0="Ana", parameter_1="lunes 9:00",
    )  # fmt: skip
    assert response.status_code == 303
    wait_for(lambda: delivery(db) == ["sent"], what="the template sent")
    (sent,) = graph.sent()
    assert sent.request["type"] == "template"
    assert sent.request["template"] == {
        "name": "cita_recordatorio",
        "language": {"code": "es"},
        "components": [
            {"type": "body", "parameters": [
                {"type": "text", "text": "Ana"}, {"type": "text", "text": "lunes 9:00"},
            ]},
        ],
    }  # fmt: skip


def test_the_assistant_stays_quiet_once_an_agent_replied(
    agent_client: FlaskClient, db, clinic, graph, llm, worker
):
    say(agent_client, "hola")
    wait_for(lambda: len(sent_texts(graph)) == 1, what="the assistant's greeting")
    conversation_id, inbound_id, wamid = db.execute(
        "SELECT conversation_id, id, provider_message_id FROM messages WHERE direction = 'in'"
    ).fetchone()
    thread = Thread(clinic, conversation_id, inbound_id, wamid)
    key = compose_key(panel(agent_client, thread))
    assert (
        post(agent_client, thread, "messages", compose_key=key, text="Soy Marta").status_code == 303
    )
    wait_for(lambda: len(sent_texts(graph)) == 2, what="the agent's reply")
    calls = len(chat_calls(llm))
    say(agent_client, "¿abren el sábado?")
    wait_for(
        lambda: (
            db.execute("SELECT count(*) FROM messages WHERE direction = 'in'").fetchone()[0] == 2
        )
    )
    wait_for(lambda: idle(db), what="queue drained")
    assert sent_texts(graph)[1:] == ["Soy Marta"]
    assert len(chat_calls(llm)) == calls
    assert db.execute("SELECT status FROM conversations").fetchone()[0] == "handoff"
