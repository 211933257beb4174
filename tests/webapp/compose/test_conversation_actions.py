"""Hand-off, return, assignment, close and reopen from the panel: each changes the conversation
once, in the tenant only, behind the CSRF token, with its audit row."""

import psycopg
import pytest
from flask.testing import FlaskClient

from db.tenants import Tenant
from tests.conftest import count, queued_jobs
from tests.webapp.admin.conftest import PASSWORD
from tests.webapp.compose.conftest import Thread, audit, csrf_token, open_thread, post


def state(db: psycopg.Connection, thread: Thread) -> tuple:
    return db.execute(
        "SELECT status, assigned_user_id, closed_at IS NOT NULL FROM conversations WHERE id = %s",
        (thread.id,),
    ).fetchone()


def actions(db: psycopg.Connection) -> list[str]:
    return [action for action, *_ in audit(db)]


def test_hand_off_and_return(agent_client: FlaskClient, agent, thread, db):
    response = post(agent_client, thread, "handoff", htmx=True)
    assert response.status_code == 200
    assert "With a person" in response.get_data(as_text=True) or "Con una persona" in (
        response.get_data(as_text=True)
    )
    assert state(db, thread) == ("handoff", None, False)
    assert count(db, "agent_notifications", "acknowledged_at IS NULL") == 1
    # Again: already with a person, nothing more happens.
    assert post(agent_client, thread, "handoff").status_code == 303
    assert post(agent_client, thread, "return").status_code == 303
    assert state(db, thread) == ("open", None, False)
    assert count(db, "agent_notifications", "acknowledged_at IS NULL") == 0
    assert actions(db) == ["conversation.handoff", "conversation.return"]
    ((_, target, user_id, details),) = [row for row in audit(db) if row[0].endswith("return")]
    assert (target, user_id) == (f"conversation:{thread.id}", agent.id)
    assert details == {"unanswered": 1, "assistant_answers": True}
    # The customer's unanswered message goes to the assistant now (the tenant's default).
    assert [actor for _, actor, _ in queued_jobs(db)] == ["plan_reply"]


def test_assign_to_me_to_a_colleague_and_unassign(
    agent_client: FlaskClient, agent, make_user, tenant, thread, db
):
    colleague = make_user(tenant, "agent")
    assert post(agent_client, thread, "assign", user_id="me").status_code == 303
    assert state(db, thread)[1] == agent.id
    assert post(agent_client, thread, "assign", user_id=colleague.id, htmx=True).status_code == 200
    assert state(db, thread)[1] == colleague.id
    assert post(agent_client, thread, "unassign").status_code == 303
    assert state(db, thread)[1] is None
    assert actions(db) == ["conversation.assign", "conversation.assign", "conversation.unassign"]
    assert [details for *_, details in audit(db)] == [
        {"user_id": agent.id}, {"user_id": colleague.id}, {"user_id": colleague.id}
    ]  # fmt: skip


def test_assigning_someone_of_another_tenant_is_not_found(
    agent_client: FlaskClient, make_user, other_tenant: Tenant, thread, db
):
    stranger = make_user(other_tenant, "agent")
    assert post(agent_client, thread, "assign", user_id=stranger.id).status_code == 404
    assert post(agent_client, thread, "assign", user_id=999_999).status_code == 404
    assert post(agent_client, thread, "assign", user_id="x").status_code == 400
    assert state(db, thread)[1] is None
    assert audit(db) == []


def test_close_and_reopen(agent_client: FlaskClient, thread, db):
    post(agent_client, thread, "handoff")
    assert post(agent_client, thread, "close").status_code == 303
    assert state(db, thread) == ("closed", None, True)
    # Nobody has to act on a closed conversation's hand-off any more.
    assert count(db, "agent_notifications", "acknowledged_at IS NULL") == 0
    assert post(agent_client, thread, "close").status_code == 303
    response = post(agent_client, thread, "reopen", htmx=True)
    assert response.status_code == 200
    assert state(db, thread) == ("open", None, False)
    assert actions(db) == ["conversation.handoff", "conversation.close", "conversation.reopen"]


def test_reopening_beside_another_live_conversation_says_so(
    agent_client: FlaskClient, tenant, thread, db
):
    post(agent_client, thread, "close")
    # The customer wrote again: a new conversation opened.
    newer = open_thread(db, tenant)
    assert newer.id != thread.id
    response = post(agent_client, thread, "reopen")
    assert response.status_code == 409
    assert f"#{newer.id}" in response.get_data(as_text=True) or f"{newer.id})" in (
        response.get_data(as_text=True)
    )
    panel = post(agent_client, thread, "reopen", htmx=True)
    assert panel.status_code == 409 and panel.headers["X-Recado-Panel"] == "1"
    assert state(db, thread)[0] == "closed"
    assert actions(db) == ["conversation.close"]


def test_a_closed_conversation_is_neither_handed_off_nor_returned(
    agent_client: FlaskClient, thread, db
):
    post(agent_client, thread, "close")
    assert post(agent_client, thread, "handoff").status_code == 409
    assert post(agent_client, thread, "return").status_code == 409
    assert state(db, thread)[0] == "closed"


@pytest.mark.parametrize("action", ["handoff", "return", "assign", "unassign", "close", "reopen"])
def test_every_action_needs_the_csrf_token(agent_client: FlaskClient, thread, db, action):
    before = state(db, thread)
    response = post(agent_client, thread, action, token=False, user_id="me")
    assert response.status_code == 400
    assert state(db, thread) == before
    assert audit(db) == []


@pytest.mark.parametrize("action", ["handoff", "return", "assign", "unassign", "close", "reopen"])
def test_another_tenants_conversation_is_not_found(
    agent_client: FlaskClient, tenant, other_tenant, db, action
):
    theirs = open_thread(db, other_tenant)
    ours = Thread(tenant, theirs.id, theirs.inbound_id, theirs.inbound_wamid)
    assert post(agent_client, ours, action, user_id="me").status_code == 404
    assert state(db, theirs) == ("open", None, False)
    assert audit(db) == []


def test_an_operator_cannot_assign_themselves(client: FlaskClient, make_user, thread, db):
    operator = make_user(None, "operator")
    # Signed in straight to the tenant's inbox (the operators' home is another area's page).
    response = client.post(
        "/login",
        data={"email": operator.email, "password": PASSWORD, "next": "/t/acme/inbox",
              "csrf_token": csrf_token(client)},
    )  # fmt: skip
    assert response.status_code == 302
    assert post(client, thread, "assign", user_id="me").status_code == 400
    assert state(db, thread)[1] is None
