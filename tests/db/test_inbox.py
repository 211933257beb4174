"""The inbox's list: order, filters, search, unread counts, keyset pages, tenants kept apart."""

from datetime import timedelta

import psycopg
import pytest

from db.conversation_views import list_conversations
from db.handoffs import hand_off
from db.inbox import Cursor, InboxFilter, Search, inbox_alerts, inbox_page
from db.tenants import Tenant, create_tenant
from db.users import User, create_user
from domain.statuses import DeliveryStatus
from tests.support.inbox import conversation, inbound, outbound


@pytest.fixture
def user(db: psycopg.Connection, tenant: Tenant) -> User:
    return create_user(db, email="ana@acme.example", role="agent", tenant_id=tenant.id)


def _ids(db: psycopg.Connection, tenant: Tenant, user: User, **kwargs: object) -> list[int]:
    kwargs.setdefault("limit", 100)
    return [row.id for row in inbox_page(db, tenant.id, user.id, **kwargs)]  # type: ignore[arg-type]


def _close(db: psycopg.Connection, conversation_id: int) -> None:
    db.execute("UPDATE conversations SET status = 'closed' WHERE id = %s", (conversation_id,))


def _assign(db: psycopg.Connection, conversation_id: int, user_id: int) -> None:
    db.execute(
        "UPDATE conversations SET assigned_user_id = %s WHERE id = %s", (user_id, conversation_id)
    )


def _read(db: psycopg.Connection, user: User, conversation_id: int, through: int) -> None:
    db.execute(
        "INSERT INTO conversation_reads (user_id, conversation_id, tenant_id,"
        " read_through_message_id) SELECT %s, id, tenant_id, %s FROM conversations WHERE id = %s",
        (user.id, through, conversation_id),
    )


def test_needs_reply_first_then_with_a_person_then_the_assistant_then_closed(
    db: psycopg.Connection, tenant: Tenant, user: User
) -> None:
    closed = conversation(db, tenant.id, "Closed", "34600000001")
    inbound(db, tenant.id, closed, "thanks", minutes_ago=1)
    outbound(db, tenant.id, closed, "bye")
    _close(db, closed)
    bot_old = conversation(db, tenant.id, "Bot old", "34600000002")
    inbound(db, tenant.id, bot_old, "hi", minutes_ago=50)
    outbound(db, tenant.id, bot_old, "hello")
    bot_new = conversation(db, tenant.id, "Bot new", "34600000003")
    inbound(db, tenant.id, bot_new, "hi", minutes_ago=30)
    outbound(db, tenant.id, bot_new, "hello")
    person = conversation(db, tenant.id, "Person", "34600000004")
    inbound(db, tenant.id, person, "a human please", minutes_ago=40)
    hand_off(db, tenant.id, person, "asked for a person")
    outbound(db, tenant.id, person, "I'm Ana, how can I help?")
    waiting_long = conversation(db, tenant.id, "Waiting long", "34600000005")
    inbound(db, tenant.id, waiting_long, "hello?", minutes_ago=20)
    waiting_now = conversation(db, tenant.id, "Waiting now", "34600000006")
    inbound(db, tenant.id, waiting_now, "price?", minutes_ago=2)

    rows = inbox_page(db, tenant.id, user.id, limit=100)

    assert [row.id for row in rows] == [waiting_now, waiting_long, person, bot_new, bot_old, closed]
    assert [row.inbox_group for row in rows] == [3, 3, 2, 1, 1, 0]
    assert rows[0].needs_reply and rows[0].waiting_since is not None
    assert rows[2].waiting_since is None


def test_needs_reply_is_the_command_lines_definition(
    db: psycopg.Connection, tenant: Tenant, user: User
) -> None:
    """`recado conversations list --needs-reply` and the inbox agree on every kind of ending."""
    answered = conversation(db, tenant.id, "Answered", "34600000001")
    inbound(db, tenant.id, answered, "hi", minutes_ago=5)
    outbound(db, tenant.id, answered, "hello", DeliveryStatus.SENT)
    failed = conversation(db, tenant.id, "Failed reply", "34600000002")
    inbound(db, tenant.id, failed, "hi", minutes_ago=5)
    outbound(db, tenant.id, failed, "hello", DeliveryStatus.FAILED)
    cancelled = conversation(db, tenant.id, "Withdrawn reply", "34600000003")
    inbound(db, tenant.id, cancelled, "hi", minutes_ago=5)
    outbound(db, tenant.id, cancelled, "hello", DeliveryStatus.CANCELLED)
    pending = conversation(db, tenant.id, "Reply on its way", "34600000004")
    inbound(db, tenant.id, pending, "hi", minutes_ago=5)
    outbound(db, tenant.id, pending, "hello")
    again = conversation(db, tenant.id, "Wrote again", "34600000005")
    inbound(db, tenant.id, again, "hi", minutes_ago=5)
    outbound(db, tenant.id, again, "hello", DeliveryStatus.DELIVERED)
    inbound(db, tenant.id, again, "and?", minutes_ago=0)
    closed = conversation(db, tenant.id, "Closed unanswered", "34600000006")
    inbound(db, tenant.id, closed, "hi", minutes_ago=5)
    _close(db, closed)

    cli = {
        line.id
        for line in list_conversations(db, tenant.id, status=None, limit=100, needs_reply=True)
    }
    inbox = set(_ids(db, tenant, user, view=InboxFilter.NEEDS_REPLY))

    assert inbox == cli == {failed, cancelled, again}


def test_waiting_since_is_the_first_unanswered_message(
    db: psycopg.Connection, tenant: Tenant, user: User
) -> None:
    conversation_id = conversation(db, tenant.id, "Lucía")
    inbound(db, tenant.id, conversation_id, "hi", minutes_ago=60)
    outbound(db, tenant.id, conversation_id, "hello", DeliveryStatus.SENT)
    first = inbound(db, tenant.id, conversation_id, "one more thing")
    inbound(db, tenant.id, conversation_id, "are you there?")
    [row] = inbox_page(db, tenant.id, user.id, limit=10)
    first_at = db.execute("SELECT ordered_at FROM messages WHERE id = %s", (first,)).fetchone()[0]
    assert row.waiting_since == first_at
    assert row.preview == "are you there?"
    # A reply that fails leaves the customer waiting since the same message.
    reply = outbound(db, tenant.id, conversation_id, "yes")
    assert inbox_page(db, tenant.id, user.id, limit=10)[0].waiting_since is None
    db.execute("UPDATE messages SET delivery_status = 'failed' WHERE id = %s", (reply,))
    assert inbox_page(db, tenant.id, user.id, limit=10)[0].waiting_since == first_at


def test_every_filter(db: psycopg.Connection, tenant: Tenant, user: User) -> None:
    colleague = create_user(db, email="bea@acme.example", role="agent", tenant_id=tenant.id)
    waiting = conversation(db, tenant.id, "Waiting", "34600000001")
    inbound(db, tenant.id, waiting, "hi", minutes_ago=3)
    person = conversation(db, tenant.id, "Person", "34600000002")
    inbound(db, tenant.id, person, "human", minutes_ago=3)
    hand_off(db, tenant.id, person, "asked")
    outbound(db, tenant.id, person, "here I am")
    _assign(db, person, user.id)
    bot = conversation(db, tenant.id, "Bot", "34600000003")
    inbound(db, tenant.id, bot, "hi", minutes_ago=3)
    outbound(db, tenant.id, bot, "hello")
    _assign(db, bot, colleague.id)
    closed = conversation(db, tenant.id, "Closed", "34600000004")
    inbound(db, tenant.id, closed, "bye", minutes_ago=3)
    _close(db, closed)

    assert _ids(db, tenant, user) == [waiting, person, bot, closed]
    assert _ids(db, tenant, user, view=InboxFilter.NEEDS_REPLY) == [waiting]
    assert _ids(db, tenant, user, view=InboxFilter.PERSON) == [person]
    assert _ids(db, tenant, user, view=InboxFilter.BOT) == [waiting, bot]
    assert _ids(db, tenant, user, view=InboxFilter.CLOSED) == [closed]
    assert _ids(db, tenant, user, view=InboxFilter.MINE) == [person]
    assert _ids(db, tenant, colleague, view=InboxFilter.MINE) == [bot]
    assert _ids(db, tenant, user, view=InboxFilter.UNASSIGNED) == [waiting]
    [row] = inbox_page(db, tenant.id, user.id, view=InboxFilter.MINE, limit=10)
    assert row.assigned_name == user.name


@pytest.mark.parametrize("gathered", [True, False], ids=["few-matches", "many-matches"])
def test_search_by_name_number_and_message_text(
    db: psycopg.Connection,
    tenant: Tenant,
    user: User,
    gathered: bool,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    if not gathered:
        # As when more messages match than are gathered: the list is walked instead.
        monkeypatch.setattr("db.inbox.GATHER_CAP", 0)
    lucia = conversation(db, tenant.id, "Lucía Pérez", "5215512345678")
    inbound(db, tenant.id, lucia, "Quiero una limpieza dental")
    marco = conversation(db, tenant.id, "Marco", "34911222333")
    inbound(db, tenant.id, marco, "¿Abren el sábado?")
    outbound(db, tenant.id, marco, "Sí, de 9 a 14. 100% seguro")

    def found(text: str) -> list[int]:
        return _ids(db, tenant, user, search=Search.of(text))

    assert found("lucía") == [lucia]
    assert found("PÉREZ") == [lucia]
    assert found("55 1234") == [lucia]
    assert found("+34 911") == [marco]
    assert found("limpieza") == [lucia]
    assert found("SÁBADO") == [marco]
    # Our own replies are searched too; LIKE's wildcards are plain characters.
    assert found("100%") == [marco]
    assert found("%") == [marco]
    assert found("_") == []
    assert found("nobody") == []
    assert Search.of("   ") is None


def test_unread_counts_are_per_user(db: psycopg.Connection, tenant: Tenant, user: User) -> None:
    colleague = create_user(db, email="bea@acme.example", role="agent", tenant_id=tenant.id)
    conversation_id = conversation(db, tenant.id, "Lucía")
    first = inbound(db, tenant.id, conversation_id, "one", minutes_ago=3)
    inbound(db, tenant.id, conversation_id, "two", minutes_ago=2)
    outbound(db, tenant.id, conversation_id, "reply")
    inbound(db, tenant.id, conversation_id, "three", minutes_ago=-1)
    _read(db, user, conversation_id, first)

    assert inbox_page(db, tenant.id, user.id, limit=5)[0].unread == 2
    assert inbox_page(db, tenant.id, colleague.id, limit=5)[0].unread == 3


def test_keyset_pages_have_no_duplicates_or_gaps_while_messages_arrive(
    db: psycopg.Connection, tenant: Tenant, user: User
) -> None:
    made = []
    for number in range(25):
        conversation_id = conversation(db, tenant.id, f"C{number}", f"3460000{number:04}")
        inbound(db, tenant.id, conversation_id, "hi", minutes_ago=100 - number)
        if number % 3:
            outbound(db, tenant.id, conversation_id, "hello")
        made.append(conversation_id)
    before = _ids(db, tenant, user)
    seen: list[int] = []
    moved: set[int] = set()
    after: Cursor | None = None
    while True:
        page = inbox_page(db, tenant.id, user.id, after=after, limit=4)
        if not page:
            break
        seen.extend(row.id for row in page)
        after = page[-1].cursor
        # Between pages: activity in a conversation already listed and in one still to come,
        # and a new conversation; each moves to the top, above the pages still to read.
        listed, unlisted = seen[0], next(i for i in before if i not in seen)
        for conversation_id in (listed, unlisted):
            inbound(db, tenant.id, conversation_id, "news")
            moved.add(conversation_id)
        moved.add(conversation(db, tenant.id, "New", f"3470000{len(seen):04}"))

    assert len(seen) == len(set(seen)), "a conversation was listed twice"
    assert [i for i in before if i not in moved] == [i for i in seen if i not in moved]


def test_another_tenants_conversations_are_never_listed(
    db: psycopg.Connection, tenant: Tenant, user: User
) -> None:
    globex = create_tenant(
        db,
        slug="globex",
        name="Globex",
        wa_phone_number_id="999",
        wa_app_secret="s",
        wa_verify_token="v",
        wa_access_token="a",
    )
    ours = conversation(db, tenant.id, "Lucía", "34600000001")
    inbound(db, tenant.id, ours, "hola")
    theirs = conversation(db, globex.id, "Lucía", "34600000001")
    inbound(db, globex.id, theirs, "hola")
    hand_off(db, globex.id, theirs, "asked")

    for view in InboxFilter:
        assert theirs not in _ids(db, tenant, user, view=view)
    for text in ("Lucía", "600000001", "hola"):
        assert _ids(db, tenant, user, search=Search.of(text)) == [ours]
    assert inbox_alerts(db, tenant.id, timedelta(minutes=10)).handed_off == 0


def test_alerts_count_hand_offs_not_taken_and_long_waits(
    db: psycopg.Connection, tenant: Tenant, user: User
) -> None:
    handed = conversation(db, tenant.id, "Handed", "34600000001")
    inbound(db, tenant.id, handed, "human please", minutes_ago=1)
    hand_off(db, tenant.id, handed, "asked")
    taken = conversation(db, tenant.id, "Taken", "34600000002")
    inbound(db, tenant.id, taken, "human please", minutes_ago=1)
    hand_off(db, tenant.id, taken, "asked")
    outbound(db, tenant.id, taken, "I'm here")
    _assign(db, taken, user.id)
    long_wait = conversation(db, tenant.id, "Long wait", "34600000003")
    inbound(db, tenant.id, long_wait, "hello?", minutes_ago=15)
    short_wait = conversation(db, tenant.id, "Short wait", "34600000004")
    inbound(db, tenant.id, short_wait, "hello?", minutes_ago=5)

    alerts = inbox_alerts(db, tenant.id, timedelta(minutes=10))

    assert (alerts.handed_off, alerts.waiting, alerts.total) == (1, 1, 2)
    assert set(alerts.ids) == {handed, long_wait}
    assert inbox_alerts(db, tenant.id, timedelta(minutes=3)).waiting == 2


def test_cursor_tokens() -> None:
    page = Cursor.parse("3.1733462400123456.42")
    assert page is not None and Cursor.parse(page.token()) == page
    for garbage in (None, "", "x", "1.2", "1.2.3.4", "a.b.c", "1." + "9" * 30 + ".1"):
        assert Cursor.parse(garbage) is None
