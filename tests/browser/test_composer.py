"""The composer of the conversation page in Chromium, as an agent on a phone uses it: quoting, a canned reply, the draft
kept across a live refresh, Ctrl+Enter, the draft emptied once sent, a refusal shown in place."""

from collections.abc import Callable

import psycopg
import pytest
from playwright.sync_api import Page

from db.tenants import Tenant
from db.users import User
from tests.webapp.compose.conftest import Thread, open_thread


@pytest.fixture
def agent_phone(phone: Page, open_session: Callable[[Page, User], None], agent: User) -> Page:
    """Chromium at a phone's width, signed in as the agent, on the inbox."""
    open_session(phone, agent)
    phone.goto("/t/acme/inbox")
    return phone


def load_panel(page: Page, thread: Thread) -> None:
    """The conversation page, with its composer loaded below the timeline."""
    page.goto(f"/t/acme/c/{thread.id}")
    page.wait_for_selector(".composer textarea")


def test_an_agent_quotes_inserts_a_canned_reply_and_sends_with_ctrl_enter(
    agent_phone: Page, db: psycopg.Connection, tenant: Tenant
) -> None:
    phone = agent_phone
    thread = open_thread(db, tenant, text="hola <b>")
    db.execute(
        "INSERT INTO canned_replies (tenant_id, title, body) VALUES (%s, 'Saludo', %s)",
        (tenant.id, "Hola {first_name}!"),
    )
    load_panel(phone, thread)
    phone.click(f"button.quote[data-message-id='{thread.inbound_id}']")
    assert phone.is_visible(".composer-quote")
    assert phone.inner_text(".composer-quote-text") == "hola <b>"
    phone.click(".composer-canned summary")
    phone.click("button.canned")
    assert phone.input_value(".composer textarea") == "Hola Ana!"
    phone.fill(".composer textarea", "Hola desde el teléfono")

    # A live event re-renders the panel: the draft and its quote stay.
    with phone.expect_response(lambda r: r.url.endswith("/composer") or "/composer?" in r.url):
        phone.evaluate(
            "id => document.body.dispatchEvent("
            "new CustomEvent('live:conversation', {detail: {conversation_id: id}}))",
            thread.id,
        )
    phone.wait_for_load_state("networkidle")
    assert phone.input_value(".composer textarea") == "Hola desde el teléfono"
    assert phone.input_value("input[name=reply_to_message_id]") == str(thread.inbound_id)

    phone.focus(".composer textarea")
    phone.keyboard.press("Control+Enter")
    phone.wait_for_selector(".composer-status.status-handoff")
    phone.wait_for_function("document.querySelector('.composer textarea').value === ''")
    assert not phone.is_visible(".composer-quote")
    assert db.execute("SELECT text, reply_to FROM messages WHERE direction = 'out'").fetchall() == [
        ("Hola desde el teléfono", thread.inbound_wamid)
    ]
    # Swapped panels bring no second copy of the stylesheet.
    assert len(phone.query_selector_all("link[href*='compose.css']")) == 1


def test_a_refusal_is_shown_in_the_panel(
    agent_phone: Page, db: psycopg.Connection, tenant: Tenant
) -> None:
    phone = agent_phone
    thread = open_thread(db, tenant)
    load_panel(phone, thread)
    # Past the browser's own check, as an old page or a script would post it.
    phone.evaluate("document.querySelector('.composer textarea').removeAttribute('required')")
    phone.click(".composer-send button[type=submit]")
    phone.wait_for_selector(".composer-error")
    assert db.execute("SELECT count(*) FROM messages WHERE direction = 'out'").fetchone()[0] == 0
