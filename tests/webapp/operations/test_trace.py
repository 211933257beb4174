"""The run trace: every step real workers ran for an inbound message and for its reply."""

import psycopg
from flask.testing import FlaskClient

from db.tenants import Tenant
from tests.actors.test_send_message import graph_api, queue_text, status, wait_for
from tests.conftest import count, fixture_body, signed_headers

__all__ = ["graph_api"]


def test_the_trace_shows_each_step_of_a_message_and_of_its_reply(
    owner_client: FlaskClient, db: psycopg.Connection, tenant: Tenant, graph_api, worker
) -> None:
    graph_api()
    body = fixture_body("text.json")
    webhook = owner_client.post("/webhooks/whatsapp/acme", data=body, headers=signed_headers(body))
    assert webhook.status_code == 200
    wait_for(lambda: count(db, "messages", "direction = 'in'") == 1)
    inbound, conversation, event = db.execute(
        "SELECT id, conversation_id, inbound_event_id FROM messages WHERE direction = 'in'"
    ).fetchone()
    wait_for(lambda: count(db, "step_runs", "actor = 'ingest_event'") == 1)
    # The journal recorded what the step worked for, and when its job was ready.
    assert db.execute(
        "SELECT tenant_id, subject_message_id, inbound_event_id, ready_at <= started_at"
        " FROM step_runs WHERE actor = 'ingest_event'"
    ).fetchone() == (tenant.id, inbound, event, True)

    # A reply through it, sent by the worker to the simulator, which reports it read. (The
    # fixture's message was written in 2025: the reply window is opened as if it were today's.)
    db.execute("UPDATE conversations SET last_inbound_at = now() WHERE id = %s", (conversation,))
    outbound = queue_text(db, tenant, conversation, text="We have it in <b>blue</b>")
    db.execute(
        "INSERT INTO replies (tenant_id, conversation_id, through_message_id, outcome, source,"
        " outbound_message_id) VALUES (%s, %s, %s, 'queued', 'rule', %s)",
        (tenant.id, conversation, inbound, outbound),
    )
    wait_for(lambda: status(db, outbound) == "read")
    wait_for(lambda: count(db, "step_runs", "actor = 'apply_status' AND outcome = 'ok'") == 3)

    html = owner_client.get(f"/t/acme/messages/{inbound}/trace").get_data(as_text=True)
    rows = html.split("<tbody>")[1].split("</tbody>")[0].split("<tr")[1:]
    steps = [row.split("<td>")[2].split("<br>")[0] for row in rows]
    assert steps[0] == "ingest_event"
    assert "send_message" in steps
    assert steps.count("apply_status") == 3
    assert all('class="outcome-ok"' in row for row in rows)
    assert f"reply {outbound}" in html
    assert f"message {outbound}, read" in html
    assert "We have it in &lt;b&gt;blue&lt;/b&gt;" in html
    assert f'href="/t/acme/c/{conversation}"' in html
    # Only inbound messages have a trace.
    assert owner_client.get(f"/t/acme/messages/{outbound}/trace").status_code == 404
    assert owner_client.get("/t/acme/messages/999999/trace").status_code == 404
