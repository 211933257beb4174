"""db/timeline.py on a real database: keyset pages, what each message carries, scoping."""

from datetime import timedelta

import psycopg
import pytest

from db import timeline
from db.tenants import Tenant, create_tenant
from db.users import create_user
from tests.support.timeline import (
    T0,
    add_message,
    add_reply,
    make_conversation,
    many_messages,
)


@pytest.fixture
def globex(db: psycopg.Connection) -> Tenant:
    return create_tenant(
        db,
        slug="globex",
        name="Globex",
        wa_phone_number_id="999",
        wa_app_secret="s",
        wa_verify_token="v",
        wa_access_token="t",
    )


def test_pages_walk_back_without_duplicates_or_gaps(db: psycopg.Connection, tenant: Tenant):
    conversation = make_conversation(db, tenant.id)
    ids = many_messages(db, tenant.id, conversation, 23)
    # Arrival order differs from id order: the provider's order wins.
    late = add_message(db, tenant.id, conversation, text="sent first", at=T0 - timedelta(hours=1))
    expected = [late, *ids]

    seen: list[int] = []
    page = timeline.page(db, tenant.id, conversation, limit=5)
    pages = 1
    seen = [m.id for m in page.messages] + seen
    while page.has_older:
        page = timeline.page(db, tenant.id, conversation, before=page.messages[0].id, limit=5)
        seen = [m.id for m in page.messages] + seen
        pages += 1
    assert seen == expected
    assert pages == 5


def test_after_returns_the_tail_in_order(db: psycopg.Connection, tenant: Tenant):
    conversation = make_conversation(db, tenant.id)
    ids = many_messages(db, tenant.id, conversation, 8)
    assert [m.id for m in timeline.after(db, tenant.id, conversation, ids[4])] == ids[5:]
    assert timeline.after(db, tenant.id, conversation, ids[-1]) == []


def test_a_cursor_of_another_conversation_or_tenant_reaches_nothing(
    db: psycopg.Connection, tenant: Tenant, globex: Tenant
):
    mine = make_conversation(db, tenant.id)
    other = make_conversation(db, tenant.id, wa_id="5215500000001")
    theirs = make_conversation(db, globex.id)
    many_messages(db, tenant.id, mine, 3)
    foreign = many_messages(db, tenant.id, other, 2)
    their_ids = many_messages(db, globex.id, theirs, 2)
    assert timeline.page(db, tenant.id, mine, before=foreign[-1]).messages == []
    assert timeline.after(db, tenant.id, mine, foreign[0]) == []
    assert timeline.page(db, tenant.id, theirs).messages == []
    assert timeline.header(db, tenant.id, theirs) is None
    assert timeline.lead_panel(db, tenant.id, theirs) is None
    assert timeline.message(db, tenant.id, theirs, their_ids[0]) is None
    assert timeline.inbound_media(db, tenant.id, their_ids[0]) is None


def test_each_message_carries_author_quote_failure_and_reasoning(
    db: psycopg.Connection, tenant: Tenant
):
    agent = create_user(db, email="ana@acme.example", role="agent", tenant_id=tenant.id)
    conversation = make_conversation(db, tenant.id)
    asked = add_message(db, tenant.id, conversation, text="¿Mañana?", provider_id="wamid.Q1")
    answer = add_message(
        db, tenant.id, conversation, direction="out", text="Sí", author="assistant",
        at=T0 + timedelta(minutes=1), status="read",
    )  # fmt: skip
    add_reply(db, tenant.id, conversation, through=asked, outbound=answer)
    failed = add_message(
        db, tenant.id, conversation, direction="out", text="Hola", sent_by=agent.id,
        at=T0 + timedelta(minutes=2), status="failed", reply_to="wamid.Q1",
        error=[{"code": 131047, "title": "Re-engagement message", "message": None,
                "details": "More than 24 hours have passed"}],
    )  # fmt: skip
    page = timeline.page(db, tenant.id, conversation)
    by_id = {m.id: m for m in page.messages}

    assert by_id[asked].reasoning is None and by_id[asked].sent_by is None
    reasoning = by_id[answer].reasoning
    assert reasoning is not None
    assert (reasoning.intent, reasoning.source, reasoning.prompt_tokens) == ("booking", "llm", 812)
    assert by_id[answer].author == "assistant" and by_id[answer].sent_by is None
    assert by_id[failed].sent_by == "ana"
    assert by_id[failed].quoted is not None and by_id[failed].quoted.id == asked
    assert by_id[failed].failure_reason == (
        "Re-engagement message: More than 24 hours have passed (131047)"
    )


def test_header_and_lead_panel(db: psycopg.Connection, tenant: Tenant):
    conversation = make_conversation(db, tenant.id, name="Luis")
    lead_id = db.execute("SELECT id FROM leads").fetchone()[0]
    db.execute(
        "UPDATE leads SET email = 'l@x.example', stage = 'qualified', score = 40,"
        ' facts = \'{"requested_time": "martes 10:00"}\' WHERE id = %s',
        (lead_id,),
    )
    db.execute(
        "INSERT INTO lead_service_interest (tenant_id, lead_id, service, mentions)"
        " VALUES (%s, %s, 'limpieza', 2), (%s, %s, 'blanqueamiento', 1)",
        (tenant.id, lead_id, tenant.id, lead_id),
    )
    header = timeline.header(db, tenant.id, conversation)
    assert header is not None
    assert (header.contact_name, header.phone) == ("Luis", "+5215512345678")
    lead = timeline.lead_panel(db, tenant.id, conversation)
    assert lead is not None
    assert (lead.email, lead.stage, lead.score) == ("l@x.example", "qualified", 40)
    assert lead.facts["requested_time"] == "martes 10:00"
    assert [s.service for s in lead.services] == ["limpieza", "blanqueamiento"]


def test_mark_read_moves_once_per_new_message(db: psycopg.Connection, tenant: Tenant):
    user = create_user(db, email="a@acme.example", role="agent", tenant_id=tenant.id)
    conversation = make_conversation(db, tenant.id)
    ids = many_messages(db, tenant.id, conversation, 3)
    assert timeline.mark_read(db, tenant.id, conversation, user.id) is True
    assert timeline.mark_read(db, tenant.id, conversation, user.id) is False
    newest = add_message(db, tenant.id, conversation, at=T0 + timedelta(hours=1))
    assert timeline.mark_read(db, tenant.id, conversation, user.id) is True
    marks = db.execute("SELECT read_through_message_id FROM conversation_reads").fetchall()
    assert marks == [(newest,)] and newest > ids[-1]


def test_notes_are_scoped_to_the_tenant(db: psycopg.Connection, tenant: Tenant, globex: Tenant):
    user = create_user(db, email="a@acme.example", role="agent", tenant_id=tenant.id)
    mine = make_conversation(db, tenant.id)
    theirs = make_conversation(db, globex.id)
    assert timeline.add_note(db, tenant.id, theirs, user.id, "x") is None
    note = timeline.add_note(db, tenant.id, mine, user.id, "llamar el lunes")
    assert [(n.id, n.body, n.author) for n in timeline.notes(db, tenant.id, mine)] == [
        (note, "llamar el lunes", "a")
    ]
    assert timeline.notes(db, globex.id, mine) == []
