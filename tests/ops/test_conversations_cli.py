"""`recado conversations`: inspect a tenant's conversations, hand them to a person and back."""

import re

import psycopg
import pytest
from click.testing import CliRunner, Result
from psycopg.types.json import Jsonb

from db.tenants import Tenant, create_tenant
from ops.cli import main


def recado(*args: str) -> Result:
    return CliRunner().invoke(main, list(args))


@pytest.fixture
def other(db: psycopg.Connection) -> Tenant:
    return create_tenant(
        db,
        slug="beta",
        name="Beta Shop",
        wa_phone_number_id="2000",
        wa_app_secret="beta-secret",
        wa_verify_token="beta-verify",
        wa_access_token="beta-access",
    )


def add_conversation(
    db: psycopg.Connection,
    tenant_id: int,
    wa_id: str,
    *,
    status: str = "open",
    reason: str | None = None,
    minutes_ago: int = 0,
) -> int:
    (contact,) = db.execute(
        "INSERT INTO contacts (tenant_id, channel, channel_user_id, phone_e164)"
        " VALUES (%s, 'whatsapp', %s, %s) RETURNING id",
        (tenant_id, wa_id, f"+{wa_id}"),
    ).fetchone()
    (conversation,) = db.execute(
        "INSERT INTO conversations (tenant_id, contact_id, channel, status, needs_human_reason,"
        " handoff_at, last_inbound_at)"
        " VALUES (%s, %s, 'whatsapp', %s, %s, CASE WHEN %s = 'handoff' THEN now() END,"
        " now() - make_interval(mins => %s)) RETURNING id",
        (tenant_id, contact, status, reason, status, minutes_ago),
    ).fetchone()
    return conversation


def add_message(
    db: psycopg.Connection,
    tenant_id: int,
    conversation_id: int,
    direction: str,
    text: str,
    author: str | None = None,
) -> int:
    (message,) = db.execute(
        "INSERT INTO messages (tenant_id, conversation_id, channel, direction, type, text,"
        " details, delivery_status)"
        " VALUES (%s, %s, 'whatsapp', %s, 'text', %s, %s, %s) RETURNING id",
        (
            tenant_id,
            conversation_id,
            direction,
            text,
            Jsonb({"author": author} if author else {}),
            "delivered" if direction == "out" else None,
        ),
    ).fetchone()
    return message


def add_notification(db: psycopg.Connection, tenant_id: int, conversation_id: int, reason: str):
    db.execute(
        "INSERT INTO agent_notifications (tenant_id, conversation_id, kind, reason)"
        " VALUES (%s, %s, 'handoff', %s)",
        (tenant_id, conversation_id, reason),
    )


def status_of(db: psycopg.Connection, conversation_id: int) -> str:
    return db.execute(
        "SELECT status FROM conversations WHERE id = %s", (conversation_id,)
    ).fetchone()[0]


def test_list_shows_masked_contacts_newest_first_and_filters_by_status(db, tenant, other) -> None:
    older = add_conversation(db, tenant.id, "5215512345678", minutes_ago=30)
    waiting = add_conversation(
        db, tenant.id, "5215587654321", status="handoff", reason="complaint", minutes_ago=5
    )
    add_notification(db, tenant.id, waiting, "complaint")
    add_conversation(db, other.id, "4915100000001")

    listed = recado("conversations", "list", "--tenant", "acme")
    handed_off = recado("conversations", "list", "--tenant", "acme", "--status", "handoff")

    assert listed.exit_code == 0, listed.output
    header, first, second = listed.output.splitlines()
    assert header.split()[:3] == ["ID", "CONTACT", "STATUS"]
    assert first.split()[:4] == [str(waiting), "+521********21", "handoff", "complaint"]
    assert first.split()[-1] == "1"
    assert second.split()[:3] == [str(older), "+521********78", "open"]
    assert second.split()[-1] == "0"
    assert "5215512345678" not in listed.output
    assert "491" not in listed.output
    assert [line.split()[0] for line in handed_off.output.splitlines()[1:]] == [str(waiting)]


def test_list_of_a_tenant_without_conversations_says_so(db, tenant) -> None:
    result = recado("conversations", "list", "--tenant", "acme", "--status", "closed")

    assert result.exit_code == 0
    assert result.output.strip() == "no closed conversations for acme"


def test_show_prints_the_latest_messages_and_the_replies_audit(db, tenant) -> None:
    conversation = add_conversation(db, tenant.id, "5215512345678")
    for n in range(24):
        add_message(db, tenant.id, conversation, "in", f"message number {n}")
    long_question = "¿Cuánto cuesta la limpieza dental? " * 5
    through = add_message(db, tenant.id, conversation, "in", long_question)
    add_message(db, tenant.id, conversation, "out", "La limpieza cuesta 800 MXN.", "assistant")
    db.execute(
        "INSERT INTO replies (tenant_id, conversation_id, through_message_id, outcome, source,"
        " intent, confidence, prompt_tokens, completion_tokens, prompt_messages_cut,"
        " prompt_chars_cut, latency_ms, cost_usd)"
        " VALUES (%s, %s, %s, 'queued', 'llm', 'pricing', 0.875, 812, 64, 2, 1046400, 1430,"
        " 0.000160), (%s, %s, %s, 'stale', 'cache', NULL, NULL, 0, 0, 0, 0, NULL, 0)",
        (tenant.id, conversation, through, tenant.id, conversation, through - 1),
    )

    result = recado("conversations", "show", "--tenant", "acme", str(conversation))

    assert result.exit_code == 0, result.output
    out = result.output
    assert f"conversation {conversation} with +521********78: open" in out
    # The last 20 of 26 messages: the first six are left out.
    assert re.findall(r"message number (\d+)", out) == [str(n) for n in range(6, 24)]
    assert "5215512345678" not in out
    lines = out.splitlines()
    question = next(line for line in lines if "¿Cuánto cuesta" in line)
    assert question.split()[4:8] == ["in", "customer", "text", "-"]
    # Shown whole, not cut.
    assert question.endswith(long_question.strip())
    answer = next(line for line in lines if "800 MXN" in line)
    assert answer.split()[4:8] == ["out", "assistant", "text", "delivered"]
    queued = next(line for line in lines if " queued " in line)
    assert queued.split()[4:] == [
        str(through), "queued", "llm", "pricing", "0.88", "812/64", "2/1046400", "1430", "ms",
        "0.000160", "-",
    ]  # fmt: skip
    stale = next(line for line in lines if " stale " in line)
    assert stale.split()[5:] == ["stale", "cache", "-", "-", "0/0", "-", "-", "0.000000", "-"]


def test_show_lists_messages_in_the_providers_order_not_as_stored(db, tenant) -> None:
    conversation = add_conversation(db, tenant.id, "5215512345678")
    # Stored (ids rising) in the order 3, 1, 2 of when they were written.
    for text, seconds_ago, position in (("paso 3", 10, 0), ("paso 1", 20, 1), ("paso 2", 20, 2)):
        message = add_message(db, tenant.id, conversation, "in", text)
        db.execute(
            "UPDATE messages SET ordered_at = now() - make_interval(secs => %s),"
            " envelope_position = %s WHERE id = %s",
            (seconds_ago, position, message),
        )

    result = recado("conversations", "show", "--tenant", "acme", str(conversation))

    assert result.exit_code == 0, result.output
    assert re.findall(r"paso (\d)", result.output) == ["1", "2", "3"]


def test_an_agent_takes_a_conversation_over_and_gives_it_back(db, tenant) -> None:
    conversation = add_conversation(db, tenant.id, "5215512345678")
    add_message(db, tenant.id, conversation, "in", "hola")
    newest = add_message(db, tenant.id, conversation, "in", "¿siguen ahí?")

    taken = recado(
        "conversations", "handoff", "--tenant", "acme", str(conversation), "--reason", "VIP"
    )
    waiting = recado("conversations", "notifications", "--tenant", "acme")

    assert taken.exit_code == 0, taken.output
    assert f"conversation {conversation} handed to a person" in taken.output
    assert status_of(db, conversation) == "handoff"
    assert waiting.exit_code == 0
    (_, row) = waiting.output.splitlines()
    assert row.split()[1:4] == [str(conversation), "handoff", "VIP"]

    returned = recado("conversations", "return", "--tenant", "acme", str(conversation))
    after = recado("conversations", "notifications", "--tenant", "acme")

    assert returned.exit_code == 0, returned.output
    assert f"conversation {conversation} is back with the assistant" in returned.output
    status, reason, replied_through = db.execute(
        "SELECT status, needs_human_reason, replied_through FROM conversations WHERE id = %s",
        (conversation,),
    ).fetchone()
    # Nobody answered the customer: the assistant does, now (reply planned through the newest).
    assert (status, reason, replied_through) == ("open", None, 0)
    assert "it answers the 2 unanswered customer messages now" in returned.output
    assert db.execute(
        "SELECT message->'args' FROM dramatiq.queue WHERE message->>'actor_name' = 'plan_reply'"
    ).fetchone()[0] == [conversation, newest]
    assert after.output.strip() == "no open notifications for acme"


def test_handoff_and_return_refuse_a_conversation_in_the_wrong_state(db, tenant) -> None:
    open_one = add_conversation(db, tenant.id, "5215512345678")
    handed = add_conversation(db, tenant.id, "5215587654321", status="handoff", reason="x")
    closed = add_conversation(db, tenant.id, "5215500000000", status="closed")

    again = recado("conversations", "handoff", "--tenant", "acme", str(handed), "--reason", "y")
    on_closed = recado("conversations", "handoff", "--tenant", "acme", str(closed), "--reason", "y")
    not_handed = recado("conversations", "return", "--tenant", "acme", str(open_one))

    assert again.exit_code == 1
    assert f"conversation {handed} is handoff, not with the assistant" in again.output
    assert on_closed.exit_code == 1
    assert f"conversation {closed} is closed, not with the assistant" in on_closed.output
    assert not_handed.exit_code == 1
    assert f"conversation {open_one} is open, not with a person" in not_handed.output
    assert db.execute("SELECT count(*) FROM agent_notifications").fetchone()[0] == 0


@pytest.mark.parametrize(
    "command",
    [
        ["show"],
        ["handoff", "--reason", "taking it"],
        ["return"],
    ],
)
def test_another_tenant_cannot_reach_the_conversation(db, tenant, other, command) -> None:
    handed = add_conversation(db, tenant.id, "5215512345678", status="handoff", reason="complaint")
    open_one = add_conversation(db, tenant.id, "5215587654321")
    add_message(db, tenant.id, open_one, "in", "mi número de tarjeta es 4111")
    target = handed if command[0] == "return" else open_one

    result = recado("conversations", command[0], "--tenant", "beta", str(target), *command[1:])

    assert result.exit_code == 1
    assert f"no conversation {target} for tenant beta" in result.output
    assert "4111" not in result.output
    assert (status_of(db, handed), status_of(db, open_one)) == ("handoff", "open")
    assert db.execute("SELECT count(*) FROM agent_notifications").fetchone()[0] == 0


def test_notifications_are_listed_per_tenant(db, tenant, other) -> None:
    mine = add_conversation(db, tenant.id, "5215512345678", status="handoff", reason="complaint")
    theirs = add_conversation(db, other.id, "4915100000001", status="handoff", reason="refund")
    add_notification(db, tenant.id, mine, "complaint")
    add_notification(db, other.id, theirs, "refund")

    result = recado("conversations", "notifications", "--tenant", "beta")

    assert result.exit_code == 0
    (_, row) = result.output.splitlines()
    assert row.split()[1:4] == [str(theirs), "handoff", "refund"]


def test_unknown_tenant_exits_1(db) -> None:
    result = recado("conversations", "list", "--tenant", "nobody")

    assert result.exit_code == 1
    assert "no tenant 'nobody'" in result.output
