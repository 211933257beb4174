"""The live stream (/t/<slug>/live) against a real `recado serve` (one worker process).

The stream runs in hypercorn's event loop (webapp/asgi.py), which Flask's test client never
reaches: only the access check is tested with it. Timing bounds live in bench/live.py.
"""

import queue
import signal
from collections.abc import Iterator
from pathlib import Path

import httpx
import psycopg
import pytest

from db.tenants import Tenant
from tests.conftest import signed_headers
from tests.db.test_live_events import new_conversation, new_message
from tests.webapp.admin.conftest import PASSWORD, csrf_token, sign_in
from tests.webapp.admin.live_support import Served, Stream, recado_serve, signed_in
from tests.webapp.test_slow_clients import webhook_body
from webapp import serving
from webapp.live.stream import CATCH_UP_LIMIT

# Generous: an event is expected well within a second (bench/live.py measures it).
ARRIVES_WITHIN = 10.0


@pytest.fixture
def served(db: psycopg.Connection, tmp_path: Path) -> Iterator[Served]:
    with recado_serve(tmp_path / "serve.log") as server:
        yield server


def stream_of(server: Served, user, slug: str = "acme", **headers: str) -> Stream:
    client = signed_in(server.url, user.email, PASSWORD)
    return Stream(client, f"/t/{slug}/live", headers=dict(headers)).start()


def no_event(stream: Stream, wait: float = 1.0) -> bool:
    try:
        stream.next(timeout=wait)
    except queue.Empty:
        return True
    return False


# --- the access check, with Flask's test client ---------------------------------------------


def test_the_route_names_the_tenant_and_user_to_its_own_staff(agent_client, tenant, agent):
    response = agent_client.get("/t/acme/live")
    assert response.status_code == 200
    assert response.get_json() == {"tenant_id": tenant.id, "user_id": agent.id}


def test_the_route_refuses_other_tenants_and_strangers(client, tenant, other_tenant, make_user):
    assert client.get("/t/acme/live").status_code == 302  # to the sign-in page
    sign_in(client, make_user(other_tenant))
    assert client.get("/t/acme/live").status_code == 404
    assert client.get("/t/nobody/live").status_code == 404


# --- the stream, on a real server ------------------------------------------------------------


def test_events_reach_the_tenants_staff_and_operators_only(
    served, db, tenant: Tenant, other_tenant: Tenant, agent, operator, make_user
):
    stranger = make_user(other_tenant)
    mine = stream_of(served, agent)
    ops = stream_of(served, operator)
    theirs = stream_of(served, stranger, slug="globex")
    refused = stream_of(served, stranger)
    assert (mine.status, ops.status, theirs.status, refused.status) == (200, 200, 200, 404)
    try:
        conversation = new_conversation(db, tenant.id)
        message = new_message(db, tenant.id, conversation, "out")
        db.execute("UPDATE messages SET delivery_status = 'sent' WHERE id = %s", (message,))
        db.execute("UPDATE conversations SET status = 'handoff' WHERE id = %s", (conversation,))
        expected = [
            (
                "message",
                {"conversation_id": conversation, "message_id": message, "direction": "out"},
            ),
            ("status", {"conversation_id": conversation, "message_id": message, "status": "sent"}),
            ("conversation", {"conversation_id": conversation, "status": "handoff"}),
        ]
        for stream in (mine, ops):
            got = [stream.next(ARRIVES_WITHIN) for _ in expected]
            assert [(e.kind, e.data) for e in got] == expected
        theirs_conversation = new_conversation(db, other_tenant.id)
        new_message(db, other_tenant.id, theirs_conversation, "in")
        # Globex's stream sees only Globex's message; Acme's see nothing of it.
        assert theirs.next(ARRIVES_WITHIN).data["conversation_id"] == theirs_conversation
        assert no_event(theirs) and no_event(mine, 0.1) and no_event(ops, 0.1)
    finally:
        for stream in (mine, ops, theirs, refused):
            stream.close()


def test_a_reconnect_with_last_event_id_catches_up_without_loss_or_duplicate(
    served, db, tenant: Tenant, agent
):
    conversation = new_conversation(db, tenant.id)
    first = stream_of(served, agent)
    new_message(db, tenant.id, conversation, "in")
    seen = first.next(ARRIVES_WITHIN)
    first.close()
    assert first.ended.wait(5)
    missed = [new_message(db, tenant.id, conversation, "in") for _ in range(3)]
    again = stream_of(served, agent, **{"Last-Event-ID": str(seen.id)})
    later = new_message(db, tenant.id, conversation, "in")
    try:
        got = [again.next(ARRIVES_WITHIN).data["message_id"] for _ in range(4)]
        assert got == [*missed, later]
        assert no_event(again)
    finally:
        again.close()
    # The page's own way to ask: a query parameter.
    client = signed_in(served.url, agent.email, PASSWORD)
    by_query = Stream(client, f"/t/acme/live?last_event_id={seen.id}").start()
    try:
        assert [by_query.next(ARRIVES_WITHIN).data["message_id"] for _ in range(4)] == [
            *missed,
            later,
        ]
    finally:
        by_query.close()


def test_the_listener_reconnects_and_catches_up_after_its_backend_is_terminated(
    served, db, tenant: Tenant, agent
):
    conversation = new_conversation(db, tenant.id)
    stream = stream_of(served, agent)
    try:
        new_message(db, tenant.id, conversation, "in")
        stream.next(ARRIVES_WITHIN)
        terminated = db.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
            " WHERE application_name = 'recado-live' AND datname = current_database()"
        ).fetchone()[0]
        # This server's listener, and any other server's on the suite's database (browser tests).
        assert terminated >= 1
        meanwhile = [new_message(db, tenant.id, conversation, "in") for _ in range(3)]
        got = [stream.next(ARRIVES_WITHIN).data["message_id"] for _ in range(3)]
        assert got == meanwhile
        after = new_message(db, tenant.id, conversation, "in")
        assert stream.next(ARRIVES_WITHIN).data["message_id"] == after
    finally:
        stream.close()


def test_open_streams_keep_no_thread_from_webhooks_and_health(served, db, tenant: Tenant, agent):
    streams = [stream_of(served, agent) for _ in range(20)]
    try:
        assert all(stream.status == 200 for stream in streams)
        for i in range(10):
            body = webhook_body(f"wamid.live-{i}")
            answer = httpx.post(
                f"{served.url}/webhooks/whatsapp/acme",
                content=body,
                headers=signed_headers(body),
                timeout=10,
            )
            assert answer.status_code == 200
            assert httpx.get(f"{served.url}/healthz", timeout=10).status_code == 200
        assert not any(stream.ended.is_set() for stream in streams)
        # Streams stay usable: an event reaches every one of them.
        new_message(db, tenant.id, new_conversation(db, tenant.id), "in")
        assert all(stream.next(ARRIVES_WITHIN).kind == "message" for stream in streams)
    finally:
        for stream in streams:
            stream.close()


def test_a_stop_with_open_streams_ends_them_within_the_graceful_timeout(
    served, db, tenant: Tenant, agent
):
    streams = [stream_of(served, agent) for _ in range(5)]
    served.proc.send_signal(signal.SIGTERM)
    assert served.proc.wait(timeout=serving.graceful_timeout) == 0
    assert all(stream.ended.wait(5) for stream in streams)


def test_tenant_pages_open_the_stream_and_the_sign_in_page_does_not(agent_client, client):
    page = agent_client.get("/t/acme/inbox").get_data(as_text=True)
    assert 'data-live="/t/acme/live"' in page
    assert "/static/live.js" in page
    agent_client.post("/logout", data={"csrf_token": csrf_token(agent_client, "/t/acme/inbox")})
    assert "data-live" not in client.get("/login").get_data(as_text=True)


def test_a_page_too_far_behind_is_told_to_reload_and_resumes_from_the_newest(
    served, db, tenant: Tenant, agent
):
    conversation = new_conversation(db, tenant.id)
    db.execute(
        "INSERT INTO messages (tenant_id, conversation_id, channel, direction, type, text)"
        " SELECT %s, %s, 'whatsapp', 'in', 'text', 'hi' FROM generate_series(1, %s)",
        (tenant.id, conversation, CATCH_UP_LIMIT + 1),
    )
    stream = stream_of(served, agent, **{"Last-Event-ID": "0"})
    try:
        assert stream.next(ARRIVES_WITHIN).kind == "reset"
        later = new_message(db, tenant.id, conversation, "in")
        assert stream.next(ARRIVES_WITHIN).data["message_id"] == later
        assert no_event(stream)
    finally:
        stream.close()
