"""The send and plan steps run in this process with fakes at their edges: a sender that records
requests instead of calling Meta, a model that answers from a script instead of an endpoint.
The database is the real one; no worker, no HTTP."""

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import psycopg
import pytest
from psycopg.types.json import Jsonb

from actors.clients.llm import ChatResult
from actors.runtime import Runtime
from db.tenants import Tenant
from domain.errors import PermanentError
from tests.actors.test_send_message import RECIPIENT, conversation, queue_text
from tests.conftest import SETTINGS
from tests.domain.sample_profile import CLINIC_PROFILE


@dataclass
class FakeSender:
    """Accepts every request and answers with a wamid, as Meta does."""

    requests: list[dict] = field(default_factory=list)

    def send(self, request: dict) -> str:
        self.requests.append(request)
        return f"wamid.fake{len(self.requests)}"

    def mark_read(self, provider_message_id: str, *, typing: bool = False) -> None:
        raise AssertionError("not expected in these tests")


@dataclass
class FakeModel:
    """Answers every chat with `reply`; records what it was shown."""

    reply: str
    intent: str = "question"
    confidence: float = 0.95
    chats: list[list[dict]] = field(default_factory=list)

    def chat(self, messages: list[dict], tool: dict) -> ChatResult:
        self.chats.append(messages)
        arguments = {"reply": self.reply, "intent": self.intent, "confidence": self.confidence}
        return ChatResult(
            arguments=json.dumps(arguments),
            model="fake-model",
            prompt_tokens=10,
            completion_tokens=5,
            latency_ms=1,
            response={},
        )

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        return [[1.0, 0.0] for _ in texts]


@pytest.fixture
def sender() -> FakeSender:
    return FakeSender()


@pytest.fixture
def sending(sender: FakeSender) -> Iterator[Runtime]:
    runtime = Runtime(SETTINGS, senders=lambda tenant: sender)
    yield runtime
    runtime.close()


def test_send_step_sends_through_the_sender_it_is_given(db, tenant, sending, sender) -> None:
    from actors.send import run_send

    message_id = queue_text(db, tenant, conversation(db, tenant), "See you at 5")
    run_send(sending, message_id)
    ((request,),) = [sender.requests]
    assert (request["to"], request["text"]["body"]) == (RECIPIENT, "See you at 5")
    row = db.execute(
        "SELECT delivery_status, provider_message_id FROM messages WHERE id = %s", (message_id,)
    ).fetchone()
    assert row == ("sent", "wamid.fake1")


def test_send_step_never_talks_over_a_person(db, tenant, sending, sender) -> None:
    from actors.send import queue_outbound, run_send

    conversation_id = conversation(db, tenant)
    with db.transaction():
        message_id = queue_outbound(
            db,
            tenant_id=tenant.id,
            conversation_id=conversation_id,
            channel="whatsapp",
            type="text",
            text="the assistant's reply",
            details={"author": "assistant"},
        )
    db.execute("UPDATE conversations SET status = 'handoff' WHERE id = %s", (conversation_id,))
    run_send(sending, message_id)
    assert sender.requests == []
    status = db.execute("SELECT delivery_status FROM messages WHERE id = %s", (message_id,))
    assert status.fetchone() == ("cancelled",)


def test_send_step_refuses_for_a_paused_tenant(db, tenant, sending, sender) -> None:
    from actors.send import run_send

    message_id = queue_text(db, tenant, conversation(db, tenant))
    db.execute("UPDATE tenants SET sending_paused_at = now(), sending_paused_reason = 'token'")
    with pytest.raises(PermanentError, match="sending is paused"):
        run_send(sending, message_id)
    assert sender.requests == []


# --- plan ---------------------------------------------------------------------------------------


@pytest.fixture
def clinic(db: psycopg.Connection, tenant: Tenant) -> Tenant:
    db.execute(
        "UPDATE tenants SET profile = %s, settings = %s WHERE id = %s",
        (Jsonb(CLINIC_PROFILE), Jsonb({"quiet_window_seconds": 0}), tenant.id),
    )
    return tenant


def inbound(db: psycopg.Connection, client, text: str) -> tuple[int, int]:
    """The customer's message through the webhook and the ingest step: (conversation, message)."""
    from actors.ingest import ingest_event
    from tests.actors.test_plan_reply import say

    say(client, text)
    (event_id,) = db.execute("SELECT max(id) FROM inbound_events").fetchone()
    # The step's body, in this process, on the suite's installed runtime.
    ingest_event(event_id)
    return db.execute(
        "SELECT conversation_id, id FROM messages WHERE direction = 'in' ORDER BY id DESC"
    ).fetchone()


def planning(model: FakeModel | None) -> Runtime:
    return Runtime(SETTINGS, llm=lambda: model)


def test_plan_step_queues_the_model_reply_it_is_given(db, clinic, client, runtime) -> None:
    from actors.plan import run_plan

    model = FakeModel(reply="Abrimos de 9 a 18 h.")
    conversation_id, message_id = inbound(db, client, "¿A qué hora abren el sábado?")
    planner = planning(model)
    try:
        run_plan(planner, conversation_id, message_id)
    finally:
        planner.close()
    (shown,) = model.chats
    assert "¿A qué hora abren el sábado?" in shown[-1]["content"]
    outbound = db.execute(
        "SELECT text, delivery_status FROM messages WHERE direction = 'out'"
    ).fetchall()
    assert outbound == [("Abrimos de 9 a 18 h.", "pending")]
    reply = db.execute("SELECT outcome, source, model FROM replies").fetchone()
    assert reply == ("queued", "llm", "fake-model")


def test_plan_step_hands_off_without_asking_the_model(db, clinic, client, runtime) -> None:
    from actors.plan import run_plan

    model = FakeModel(reply="never used")
    conversation_id, message_id = inbound(db, client, "Quiero hablar con una persona, por favor")
    planner = planning(model)
    try:
        run_plan(planner, conversation_id, message_id)
    finally:
        planner.close()
    assert model.chats == []
    status = db.execute("SELECT status FROM conversations WHERE id = %s", (conversation_id,))
    assert status.fetchone() == ("handoff",)
    assert db.execute("SELECT outcome FROM replies").fetchall() == [("handoff",)]
