"""The conversation page and its fragments, through Flask's client on a real database."""

import re
from datetime import timedelta

import psycopg
import pytest
from flask import Flask
from flask.testing import FlaskClient

from db.tenants import Tenant
from db.users import User
from tests.conftest import count
from tests.support.timeline import T0, add_message, add_reply, make_conversation, many_messages
from tests.webapp.admin.conftest import csrf_token, sign_in

XSS = "<script>alert(1)</script>"
ESCAPED = "&lt;script&gt;alert(1)&lt;/script&gt;"


def _page(client: FlaskClient, conversation: int, slug: str = "acme") -> str:
    response = client.get(f"/t/{slug}/c/{conversation}")
    assert response.status_code == 200, response.status_code
    return response.get_data(as_text=True)


def _message_ids(html: str) -> list[int]:
    return [int(i) for i in re.findall(r'<li class="message \w+" id="message-(\d+)"', html)]


@pytest.fixture
def story(db: psycopg.Connection, tenant: Tenant, agent: User) -> dict[str, int]:
    """A conversation with one message of each kind the page shows."""
    conversation = make_conversation(db, tenant.id, name="Ana Pérez", status="handoff")
    db.execute(
        "UPDATE conversations SET assigned_user_id = %s, needs_human_reason = 'asked for a person'"
        " WHERE id = %s",
        (agent.id, conversation),
    )
    ids = {"conversation": conversation}
    ids["asked"] = add_message(
        db, tenant.id, conversation, text="Hola\n¿hay cita mañana?", provider_id="wamid.A"
    )
    for minute, status in enumerate(("pending", "sent", "delivered", "read"), start=1):
        ids[status] = add_message(
            db, tenant.id, conversation, direction="out", text=f"reply {status}",
            status=status, author="assistant", at=T0 + timedelta(minutes=minute),
        )  # fmt: skip
    add_reply(db, tenant.id, conversation, through=ids["asked"], outbound=ids["read"],
              intent="booking", source="cache", cache_result="hit_exact")  # fmt: skip
    ids["failed"] = add_message(
        db, tenant.id, conversation, direction="out", text="by hand", status="failed",
        sent_by=agent.id, reply_to="wamid.A", at=T0 + timedelta(minutes=9),
        error=[{"code": 131026, "title": "Message undeliverable", "message": None,
                "details": None}],
    )  # fmt: skip
    return ids


def test_the_page_shows_every_part(agent_client: FlaskClient, story: dict[str, int]) -> None:
    html = _page(agent_client, story["conversation"])
    # Header.
    assert "Ana Pérez" in html and 'href="tel:+5215512345678"' in html
    assert "asked for a person" in html and "agent1" in html
    # Texts escaped, line breaks kept (pre-wrap), in the conversation's order.
    assert "Hola\n¿hay cita mañana?" in html
    ids = _message_ids(html)
    order = ["asked", "pending", "sent", "delivered", "read", "failed"]
    assert ids == [story[k] for k in order]
    # Ticks.
    assert re.search(rf'id="ticks-{story["pending"]}"[^>]*>\s*<span aria-hidden="true">⏱', html)
    assert re.search(rf'class="ticks sent" id="ticks-{story["sent"]}"', html)
    assert re.search(rf'class="ticks read" id="ticks-{story["read"]}"', html)
    assert "✓✓" in html and "Message undeliverable (131026)" in html
    # Who wrote: assistant vs the agent.
    assert "Assistant" in html or "Asistente" in html
    # Reasoning under the reply it produced.
    reply_item = html.split(f'id="message-{story["read"]}"')[1].split("</li>")[0]
    assert '<details class="reasoning">' in reply_item and "hit_exact" in reply_item
    assert "booking" in reply_item and "812" in reply_item
    # The quoted message and the quote buttons.
    failed_item = html.split(f'id="message-{story["failed"]}"')[1].split("</li>")[0]
    assert f'href="#message-{story["asked"]}"' in failed_item
    assert f'class="quote" data-message-id="{story["asked"]}"' in html
    assert 'data-preview="Hola\n¿hay cita mañana?"' in html
    # Lead and notes panels; live triggers for this conversation only.
    assert 'id="lead"' in html and 'id="notes"' in html
    conversation = story["conversation"]
    assert f"live:message[detail.conversation_id=={conversation}] from:body" in html
    assert f"live:status[detail.message_id=={story['sent']}] from:body" in html
    assert f"live:conversation[detail.conversation_id=={conversation}] from:body" in html
    # Areas not built in this app: no composer, no trace links.
    assert 'id="composer"' not in html and "/trace" not in html


def test_composer_and_trace_appear_when_their_endpoints_exist(
    app: Flask, client: FlaskClient, db: psycopg.Connection, tenant: Tenant, make_user
) -> None:
    app.add_url_rule(
        "/t/<slug>/c/<int:conversation_id>/composer", "compose.panel", lambda **_: "composer"
    )
    app.add_url_rule(
        "/t/<slug>/messages/<int:message_id>/trace", "operations.trace", lambda **_: "trace"
    )
    sign_in(client, make_user(tenant))
    conversation = make_conversation(db, tenant.id)
    inbound = add_message(db, tenant.id, conversation)
    add_message(db, tenant.id, conversation, direction="out", at=T0 + timedelta(minutes=1))
    html = _page(client, conversation)
    assert f'hx-get="/t/acme/c/{conversation}/composer"' in html
    assert f"load, live:conversation[detail.conversation_id=={conversation}] from:body" in html
    assert html.count("/trace") == 1 and f"/t/acme/messages/{inbound}/trace" in html


def test_the_page_is_read_for_the_user_once_opened(
    agent_client: FlaskClient, db: psycopg.Connection, tenant: Tenant, agent: User
) -> None:
    conversation = make_conversation(db, tenant.id)
    ids = many_messages(db, tenant.id, conversation, 4)
    _page(agent_client, conversation)
    marks = db.execute("SELECT user_id, read_through_message_id FROM conversation_reads")
    assert marks.fetchall() == [(agent.id, ids[-1])]
    newest = add_message(db, tenant.id, conversation, at=T0 + timedelta(hours=2))
    tail = agent_client.get(f"/t/acme/c/{conversation}/newer?after={ids[-1]}")
    assert _message_ids(tail.get_data(as_text=True)) == [newest]
    marks = db.execute("SELECT read_through_message_id FROM conversation_reads")
    assert marks.fetchall() == [(newest,)]


def test_an_empty_conversation_fills_from_the_live_tail(
    agent_client: FlaskClient, db: psycopg.Connection, tenant: Tenant
) -> None:
    conversation = make_conversation(db, tenant.id)
    assert 'li class="empty' in _page(agent_client, conversation)
    first = add_message(db, tenant.id, conversation)
    tail = agent_client.get(f"/t/acme/c/{conversation}/newer?after=0").get_data(as_text=True)
    assert _message_ids(tail) == [first]


def test_older_pages_load_without_duplicates_or_gaps(
    agent_client: FlaskClient, db: psycopg.Connection, tenant: Tenant
) -> None:
    conversation = make_conversation(db, tenant.id)
    ids = many_messages(db, tenant.id, conversation, 120)
    html = _page(agent_client, conversation)
    seen = _message_ids(html)
    assert seen == ids[-50:]
    while True:
        button = re.search(r'hx-get="(/t/acme/c/\d+/older/\d+)"', html)
        if button is None:
            break
        html = agent_client.get(button.group(1)).get_data(as_text=True)
        seen = _message_ids(html) + seen
    assert seen == ids


def test_ticks_fragment_follows_the_status(
    agent_client: FlaskClient, db: psycopg.Connection, story: dict[str, int]
) -> None:
    url = f"/t/acme/c/{story['conversation']}/messages/{story['sent']}/ticks"
    assert 'class="ticks sent"' in agent_client.get(url).get_data(as_text=True)
    db.execute("UPDATE messages SET delivery_status = 'read' WHERE id = %s", (story["sent"],))
    fragment = agent_client.get(url).get_data(as_text=True)
    # Read is final: the fragment stops listening.
    assert 'class="ticks read"' in fragment and "hx-trigger" not in fragment
    inbound = f"/t/acme/c/{story['conversation']}/messages/{story['asked']}/ticks"
    assert agent_client.get(inbound).status_code == 404


def test_header_fragment(agent_client: FlaskClient, story: dict[str, int]) -> None:
    html = agent_client.get(f"/t/acme/c/{story['conversation']}/header").get_data(as_text=True)
    assert 'id="conversation-header"' in html and "Ana Pérez" in html


def test_a_note_is_added_audited_and_escaped(
    agent_client: FlaskClient, db: psycopg.Connection, story: dict[str, int], agent: User
) -> None:
    conversation = story["conversation"]
    token = csrf_token(agent_client, f"/t/acme/c/{conversation}")
    response = agent_client.post(
        f"/t/acme/c/{conversation}/notes",
        data={"csrf_token": token, "body": f"call back {XSS}"},
        headers={"HX-Request": "true"},
    )
    assert response.status_code == 200
    assert f"call back {ESCAPED}" in response.get_data(as_text=True)
    assert XSS not in response.get_data(as_text=True)
    audit = db.execute("SELECT user_id, action, target FROM audit_log").fetchall()
    assert audit == [(agent.id, "conversation.note", f"conversation:{conversation}")]
    # Without htmx: back to the page, where the note is listed.
    response = agent_client.post(
        f"/t/acme/c/{conversation}/notes", data={"csrf_token": token, "body": "second"}
    )
    assert response.status_code == 302
    html = _page(agent_client, conversation)
    assert "second" in html and ESCAPED in html
    listed = agent_client.get(f"/t/acme/c/{conversation}/notes").get_data(as_text=True)
    assert "second" in listed and "<form" not in listed


def test_an_empty_note_is_refused(
    agent_client: FlaskClient, db: psycopg.Connection, story: dict[str, int]
) -> None:
    conversation = story["conversation"]
    token = csrf_token(agent_client, f"/t/acme/c/{conversation}")
    response = agent_client.post(
        f"/t/acme/c/{conversation}/notes",
        data={"csrf_token": token, "body": "   "},
        headers={"HX-Request": "true"},
    )
    assert 'role="alert"' in response.get_data(as_text=True)
    assert count(db, "conversation_notes") == 0 and count(db, "audit_log") == 0


def test_a_note_without_the_csrf_token_is_refused(
    agent_client: FlaskClient, db: psycopg.Connection, story: dict[str, int]
) -> None:
    response = agent_client.post(f"/t/acme/c/{story['conversation']}/notes", data={"body": "x"})
    assert response.status_code == 400
    assert count(db, "conversation_notes") == 0 and count(db, "audit_log") == 0


def test_script_in_names_texts_facts_and_errors_is_text(
    agent_client: FlaskClient, db: psycopg.Connection, tenant: Tenant
) -> None:
    conversation = make_conversation(db, tenant.id, name=XSS)
    db.execute("UPDATE leads SET facts = jsonb_build_object('requested_time', %s::text)", (XSS,))
    db.execute("UPDATE conversations SET needs_human_reason = %s", (XSS,))
    add_message(db, tenant.id, conversation, text=XSS, provider_id="wamid.X")
    outbound = add_message(
        db, tenant.id, conversation, direction="out", text=XSS, status="failed",
        reply_to="wamid.X", at=T0 + timedelta(minutes=1),
        error=[{"code": 1, "title": XSS, "message": None, "details": None}],
    )  # fmt: skip
    add_reply(db, tenant.id, conversation, through=outbound - 1, outbound=outbound, intent=XSS)
    html = _page(agent_client, conversation)
    assert "<script>alert" not in html
    assert html.count(ESCAPED) >= 7


def test_another_tenants_ids_answer_404_everywhere(
    agent_client: FlaskClient,
    db: psycopg.Connection,
    tenant: Tenant,
    other_tenant: Tenant,
) -> None:
    theirs = make_conversation(db, other_tenant.id)
    inbound = add_message(
        db, other_tenant.id, theirs, type="image", text=None, media={"media_id": "m1"}
    )
    outbound = add_message(db, other_tenant.id, theirs, direction="out", at=T0 + timedelta(1))
    mine = make_conversation(db, tenant.id)
    own = add_message(db, tenant.id, mine)
    token = csrf_token(agent_client, f"/t/acme/c/{mine}")
    before = count(db, "conversation_notes"), count(db, "conversation_reads")
    for slug in ("acme", "globex"):
        for path in (
            f"/t/{slug}/c/{theirs}",
            f"/t/{slug}/c/{theirs}/older/{outbound}",
            f"/t/{slug}/c/{theirs}/newer?after={inbound}",
            f"/t/{slug}/c/{theirs}/messages/{outbound}/ticks",
            f"/t/{slug}/c/{theirs}/header",
            f"/t/{slug}/c/{theirs}/notes",
            f"/t/{slug}/media/{inbound}",
        ):
            assert agent_client.get(path).status_code == 404, path
        response = agent_client.post(
            f"/t/{slug}/c/{theirs}/notes", data={"csrf_token": token, "body": "x"}
        )
        assert response.status_code == 404
    # Their message ids through my conversation reach nothing either.
    assert agent_client.get(f"/t/acme/c/{mine}/messages/{outbound}/ticks").status_code == 404
    older = agent_client.get(f"/t/acme/c/{mine}/older/{outbound}").get_data(as_text=True)
    assert _message_ids(older) == []
    newer = agent_client.get(f"/t/acme/c/{mine}/newer?after={inbound}").get_data(as_text=True)
    assert _message_ids(newer) == []
    assert (count(db, "conversation_notes"), count(db, "conversation_reads")) == before
    assert own not in (inbound, outbound)
