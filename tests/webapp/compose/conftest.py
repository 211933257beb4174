"""Conversations to compose in, and the composer's form as a browser would post it."""

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

import psycopg
import pytest
from flask.testing import FlaskClient

from db.conversations import ensure_lead, live_conversation, upsert_contact
from db.tenants import Tenant

# Imported for the tests of this folder: the simulators and the assistant's tenant, users,
# signed-in clients, the other tenant.
from tests.actors.test_plan_reply import clinic, graph, llm  # noqa: F401
from tests.webapp.admin.conftest import (  # noqa: F401
    agent,
    agent_client,
    csrf_token,
    make_user,
    other_tenant,
    owner,
    owner_client,
    sign_in,
)

CUSTOMER = "5215512345678"
_KEY = re.compile(r'name="compose_key" value="([0-9a-f-]{36})"')


@dataclass(frozen=True)
class Thread:
    tenant: Tenant
    id: int
    # The customer's latest message: its row id and WhatsApp's id for it.
    inbound_id: int
    inbound_wamid: str

    @property
    def url(self) -> str:
        return f"/t/{self.tenant.slug}/c/{self.id}"


def open_thread(
    db: psycopg.Connection,
    tenant: Tenant,
    *,
    customer: str = CUSTOMER,
    name: str | None = "Ana López",
    wrote_ago: timedelta = timedelta(minutes=5),
    text: str = "hola",
) -> Thread:
    """A conversation whose customer wrote `wrote_ago` (the window's clock), with that message."""
    contact = upsert_contact(
        db, tenant_id=tenant.id, channel="whatsapp", channel_user_id=customer,
        phone_e164="+" + customer, profile_name=name,
    )  # fmt: skip
    ensure_lead(db, tenant_id=tenant.id, contact_id=contact, name=name, phone_e164="+" + customer)
    at = db.execute("SELECT now() - %s", (wrote_ago,)).fetchone()[0]
    conversation = live_conversation(
        db, tenant_id=tenant.id, contact_id=contact, channel="whatsapp", inbound_at=at
    )
    wamid = f"wamid.in.{tenant.slug}.{conversation.id}"
    inbound_id = db.execute(
        "INSERT INTO messages (tenant_id, conversation_id, channel, direction, type, text,"
        " provider_message_id, ordered_at, received_at)"
        " VALUES (%s, %s, 'whatsapp', 'in', 'text', %s, %s, %s, %s) RETURNING id",
        (tenant.id, conversation.id, text, wamid, at, at),
    ).fetchone()[0]
    return Thread(tenant, conversation.id, inbound_id, wamid)


@pytest.fixture
def thread(db: psycopg.Connection, tenant: Tenant) -> Thread:
    return open_thread(db, tenant)


def panel(client: FlaskClient, thread: Thread, **params: str) -> str:
    response = client.get(f"{thread.url}/composer", query_string=params,
                          headers={"HX-Request": "true"})  # fmt: skip
    assert response.status_code == 200, response.status_code
    return response.get_data(as_text=True)


def compose_key(page: str) -> str:
    match = _KEY.search(page)
    assert match, "no compose key in the panel"
    return match.group(1)


PostAction = Callable[..., object]


def post(
    client: FlaskClient, thread: Thread, action: str, *, htmx: bool = False, token: bool = True,
    **form: object,
):  # fmt: skip
    """POST one of the panel's forms, with the session's CSRF token unless `token` is False."""
    data = {key: str(value) for key, value in form.items()}
    if token:
        data["csrf_token"] = csrf_token(client, f"/t/{thread.tenant.slug}/inbox")
    headers = {"HX-Request": "true"} if htmx else {}
    return client.post(f"{thread.url}/{action}", data=data, headers=headers)


def audit(db: psycopg.Connection) -> list[tuple]:
    return db.execute(
        "SELECT action, target, user_id, details FROM audit_log ORDER BY id"
    ).fetchall()
