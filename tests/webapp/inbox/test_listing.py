"""The conversation list page: order, filters, search, pages, live refresh, alerts, isolation."""

import re
from collections.abc import Callable
from datetime import timedelta

import psycopg
import pytest
from click.testing import CliRunner
from flask.testing import FlaskClient

from db.handoffs import hand_off
from db.tenants import Tenant
from db.users import User, create_session, set_language
from ops.cli import main
from tests.support.inbox import conversation, inbound, outbound
from tests.webapp.admin.conftest import sign_in

_ROW = re.compile(r'id="conversation-(\d+)"')


@pytest.fixture(autouse=True)
def _english(db: psycopg.Connection, agent: User) -> None:
    set_language(db, agent.id, "en")


def _page(client: FlaskClient, query: str = "", slug: str = "acme") -> str:
    response = client.get(f"/t/{slug}/inbox{query}")
    assert response.status_code == 200, response.status_code
    return response.get_data(as_text=True)


def _listed(page: str) -> list[int]:
    return [int(found) for found in _ROW.findall(page)]


def test_needs_reply_first_with_its_wait_then_person_assistant_closed(
    db: psycopg.Connection, tenant: Tenant, agent_client: FlaskClient
) -> None:
    closed = conversation(db, tenant.id, "Closed one", "34600000001")
    inbound(db, tenant.id, closed, "bye", minutes_ago=1)
    db.execute("UPDATE conversations SET status = 'closed' WHERE id = %s", (closed,))
    bot = conversation(db, tenant.id, "Bot one", "34600000002")
    inbound(db, tenant.id, bot, "hi", minutes_ago=2)
    outbound(db, tenant.id, bot, "Hello from the assistant")
    person = conversation(db, tenant.id, "Person one", "34600000003")
    inbound(db, tenant.id, person, "human", minutes_ago=3)
    hand_off(db, tenant.id, person, "asked")
    outbound(db, tenant.id, person, "Ana here")
    waiting = conversation(db, tenant.id, "Waiting one", "34600000004")
    inbound(db, tenant.id, waiting, "How much is a cleaning?", minutes_ago=125)

    page = _page(agent_client)

    assert _listed(page) == [waiting, person, bot, closed]
    assert "Needs reply, waiting 2 h 5 min" in page
    assert "How much is a cleaning?" in page
    assert "+34600000004" in page  # staff see the number to call
    assert "With a person" in page and "With the assistant" in page
    assert f'href="/t/acme/c/{waiting}"' in page


@pytest.mark.parametrize(
    ("view", "expected"),
    [
        ("needs_reply", ["waiting"]),
        ("person", ["person"]),
        ("bot", ["waiting", "bot"]),
        ("closed", ["closed"]),
        ("mine", ["person"]),
        ("unassigned", ["waiting", "bot"]),
        ("nonsense", ["waiting", "person", "bot", "closed"]),
    ],
)
def test_filters(
    db: psycopg.Connection,
    tenant: Tenant,
    agent: User,
    agent_client: FlaskClient,
    view: str,
    expected: list[str],
) -> None:
    made = {}
    for number, name in enumerate(("closed", "bot", "person", "waiting")):
        made[name] = conversation(db, tenant.id, name, f"3460000000{number}")
        inbound(db, tenant.id, made[name], "hi", minutes_ago=10 - number)
    outbound(db, tenant.id, made["bot"], "hello")
    hand_off(db, tenant.id, made["person"], "asked")
    outbound(db, tenant.id, made["person"], "hello")
    db.execute(
        "UPDATE conversations SET assigned_user_id = %s WHERE id = %s", (agent.id, made["person"])
    )
    db.execute("UPDATE conversations SET status = 'closed' WHERE id = %s", (made["closed"],))

    page = _page(agent_client, f"?filter={view}")

    assert _listed(page) == [made[name] for name in expected]


def test_search_by_name_number_and_text_keeps_the_filter(
    db: psycopg.Connection, tenant: Tenant, agent_client: FlaskClient
) -> None:
    lucia = conversation(db, tenant.id, "Lucía Pérez", "5215512345678")
    inbound(db, tenant.id, lucia, "Quiero una limpieza")
    marco = conversation(db, tenant.id, "Marco", "34911222333")
    inbound(db, tenant.id, marco, "¿Abren el sábado?")

    assert _listed(_page(agent_client, "?q=lucia+p%C3%A9rez")) == []  # accents are kept
    assert _listed(_page(agent_client, "?q=Luc%C3%ADa")) == [lucia]
    assert _listed(_page(agent_client, "?q=%2B34+911")) == [marco]
    assert _listed(_page(agent_client, "?q=limpieza")) == [lucia]
    assert _listed(_page(agent_client, "?q=limpieza&filter=closed")) == []
    page = _page(agent_client, "?q=s%C3%A1bado&filter=bot")
    assert _listed(page) == [marco]
    assert 'value="sábado"' in page
    assert "No conversation matches this search." in _page(agent_client, "?q=nadie")


def test_unread_badge_is_the_signed_in_users(
    db: psycopg.Connection,
    tenant: Tenant,
    agent: User,
    agent_client: FlaskClient,
    make_user: Callable[..., User],
) -> None:
    conversation_id = conversation(db, tenant.id, "Lucía")
    first = inbound(db, tenant.id, conversation_id, "one", minutes_ago=3)
    inbound(db, tenant.id, conversation_id, "two", minutes_ago=2)
    colleague = make_user(tenant, "agent")
    db.execute(
        "INSERT INTO conversation_reads (user_id, conversation_id, tenant_id,"
        " read_through_message_id) VALUES (%s, %s, %s, %s)",
        (colleague.id, conversation_id, tenant.id, first),
    )

    assert re.search(r'class="badge" title="Unread messages">2<', _page(agent_client))
    other = agent_client.application.test_client()
    sign_in(other, colleague)
    assert re.search(r'title="[^"]+">1<', _page(other))


def test_older_pages_load_more_and_refresh_what_is_on_screen(
    db: psycopg.Connection, tenant: Tenant, agent_client: FlaskClient
) -> None:
    made = []
    for number in range(55):
        conversation_id = conversation(db, tenant.id, f"C{number}", f"346000{number:05}")
        inbound(db, tenant.id, conversation_id, "hi", minutes_ago=100 - number)
        outbound(db, tenant.id, conversation_id, "hello")
        made.append(conversation_id)
    newest_first = made[::-1]

    page = _page(agent_client, "?filter=bot")
    assert _listed(page) == newest_first[:50]
    more = re.search(r'hx-get="([^"]*part=rows[^"]*)"', page)
    older = re.search(r'<a class="button" href="([^"]*after=[^"]*)"', page)
    assert more and older

    rest = agent_client.get(more.group(1).replace("&amp;", "&")).get_data(as_text=True)
    assert _listed(rest) == newest_first[50:]
    assert "inbox-more" not in rest
    # The refresh now reaches the rows just loaded, with the same filter.
    refresh = re.search(r'id="inbox-refresh"[^>]*hx-get="([^"]+)"', rest)
    assert refresh and "hx-swap-oob" in rest and "filter=bot" in refresh.group(1)
    plain = _page(agent_client, older.group(1).replace("&amp;", "&").split("/inbox")[1])
    assert _listed(plain) == newest_first[50:]

    # A message arrives in the oldest conversation: the refresh shows every row on screen.
    inbound(db, tenant.id, made[0], "news")
    outbound(db, tenant.id, made[0], "answer")
    redrawn = agent_client.get(refresh.group(1).replace("&amp;", "&")).get_data(as_text=True)
    assert _listed(redrawn) == [made[0], *newest_first[:54]]
    assert 'id="inbox-alerts"' in redrawn


def test_the_list_refreshes_on_live_events_keeping_filter_and_search(
    db: psycopg.Connection, tenant: Tenant, agent_client: FlaskClient
) -> None:
    page = _page(agent_client, "?filter=mine&q=ana")
    tag = re.search(r'<span id="inbox-refresh"[^>]*>', page)
    assert tag
    trigger = re.search(r'hx-trigger="([^"]+)"', tag.group(0))
    assert trigger
    for kind in ("message", "status", "conversation"):
        assert f"live:{kind} from:body delay:" in trigger.group(1)
    url = re.search(r'hx-get="([^"]+)"', tag.group(0))
    assert url and "filter=mine" in url.group(1) and "q=ana" in url.group(1)
    assert "part=refresh" in url.group(1)
    assert 'hx-target="#inbox-rows"' in tag.group(0)


def test_alerts_in_title_and_for_notifications(
    db: psycopg.Connection, tenant: Tenant, agent_client: FlaskClient
) -> None:
    handed = conversation(db, tenant.id, "Handed", "34600000001")
    inbound(db, tenant.id, handed, "human please", minutes_ago=1)
    hand_off(db, tenant.id, handed, "asked")
    waiting = conversation(db, tenant.id, "Waiting", "34600000002")
    inbound(db, tenant.id, waiting, "hello?", minutes_ago=12)

    page = _page(agent_client)
    assert "<title>(2) Inbox · recado</title>" in page
    assert f'data-ids="{handed} {waiting}"' in page or f'data-ids="{waiting} {handed}"' in page
    assert "inbox.js" in page and 'id="inbox-notify"' in page

    # The tenant's threshold, set as operators set every setting.
    result = CliRunner().invoke(
        main, ["tenants", "settings", "set", "acme", "reply_alert_minutes", "15"]
    )
    assert result.exit_code == 0, result.output
    assert "<title>(1) Inbox · recado</title>" in _page(agent_client)
    refused = CliRunner().invoke(
        main, ["tenants", "settings", "set", "acme", "reply_alert_minutes", "0"]
    )
    assert refused.exit_code != 0 and "1 to 1440" in refused.output


def test_contact_names_and_messages_are_escaped(
    db: psycopg.Connection, tenant: Tenant, agent_client: FlaskClient
) -> None:
    conversation_id = conversation(db, tenant.id, "<script>alert(1)</script>")
    inbound(db, tenant.id, conversation_id, '<img src=x onerror="alert(2)">')

    page = _page(agent_client, "?q=%3Cscript%3E")

    assert "<script>alert(1)</script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "<img src=x" not in page and "&lt;img src=x onerror=" in page
    assert _listed(page) == [conversation_id]


def test_another_tenants_agent_gets_404_and_never_sees_its_rows(
    db: psycopg.Connection,
    tenant: Tenant,
    other_tenant: Tenant,
    make_user: Callable[..., User],
    client: FlaskClient,
) -> None:
    ours = conversation(db, tenant.id, "Lucía", "34600000001")
    inbound(db, tenant.id, ours, "hola acme")
    theirs = conversation(db, other_tenant.id, "Lucía", "34600000001")
    inbound(db, other_tenant.id, theirs, "hola globex")
    sign_in(client, make_user(other_tenant, "agent"))

    assert client.get("/t/acme/inbox").status_code == 404
    page = _page(client, "?q=Luc%C3%ADa", slug="globex")
    assert _listed(page) == [theirs]
    assert "hola acme" not in page


def test_an_operator_sees_the_tenants_list(
    db: psycopg.Connection, tenant: Tenant, operator: User, client: FlaskClient
) -> None:
    ours = conversation(db, tenant.id, "Lucía")
    inbound(db, tenant.id, ours, "hola")
    # Signed in as /login would (its landing page for operators is another area's).
    with client.session_transaction() as session:
        session["sid"] = create_session(db, operator.id, timedelta(hours=1))

    assert _listed(_page(client)) == [ours]


def test_signed_out_goes_to_sign_in(client: FlaskClient) -> None:
    response = client.get("/t/acme/inbox?filter=mine")
    assert response.status_code == 302 and "/login" in response.headers["Location"]


def test_an_empty_list_fills_in_on_refresh(
    db: psycopg.Connection, tenant: Tenant, agent_client: FlaskClient
) -> None:
    page = _page(agent_client, "?filter=needs_reply")
    assert "No conversations here." in page
    refresh = re.search(r'id="inbox-refresh"[^>]*hx-get="([^"]+)"', page)
    assert refresh

    conversation_id = conversation(db, tenant.id, "Lucía")
    inbound(db, tenant.id, conversation_id, "hola")
    redrawn = agent_client.get(refresh.group(1).replace("&amp;", "&")).get_data(as_text=True)

    assert _listed(redrawn) == [conversation_id]
    assert "No conversations here." not in redrawn
