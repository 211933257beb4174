"""The reply planner with real workers, the LLM simulator and the Graph API simulator over HTTP:
one reply per burst, in order, stale replies discarded, never over a person, a fallback when the
model fails, caps, the answer cache, the lead record and the audit trail."""

import itertools
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path

import psycopg
import pytest
from psycopg.types.json import Jsonb

from domain.channels.whatsapp_envelopes import encode, text_envelope
from ops.simulators.graph_api import GraphApiSimulator, SimulatorConfig, TenantRoute
from ops.simulators.llm import CHAT_PATH, EMBEDDINGS_PATH, LlmSimulator, LlmSimulatorConfig
from tests.actors.test_send_pacing import WorkerProcesses
from tests.conftest import GRAPH_API_PORT, LLM_API_PORT, SETTINGS, count, signed_headers
from tests.domain.sample_profile import CLINIC_PROFILE

PHONE_NUMBER_ID = "106540352242922"
CUSTOMER = "5215512345678"
_wamids = itertools.count(1)


def wait_for(condition: Callable[[], bool], timeout: float = 30.0, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"not met in {timeout} s: {what}")
        time.sleep(0.05)


@pytest.fixture
def llm() -> Iterator[LlmSimulator]:
    with LlmSimulator(LlmSimulatorConfig(port=LLM_API_PORT, seed=11)) as simulator:
        yield simulator


@pytest.fixture
def graph(live_server, tenant) -> Iterator[GraphApiSimulator]:
    route = TenantRoute(
        webhook_url=f"{live_server}/webhooks/whatsapp/acme",
        app_secret="acme-app-secret",
        access_token="acme-access-token",
    )
    config = SimulatorConfig(
        routes={PHONE_NUMBER_ID: route}, port=GRAPH_API_PORT, seed=7, status_delays_ms=(20, 40, 60)
    )
    with GraphApiSimulator(config) as simulator:
        yield simulator


@pytest.fixture
def clinic(db: psycopg.Connection, tenant):
    """The acme tenant with a business profile (the assistant on) and a short quiet window."""
    configure(db, tenant, quiet_window_seconds=0)
    db.execute("UPDATE tenants SET profile = %s WHERE id = %s", (Jsonb(CLINIC_PROFILE), tenant.id))
    return tenant


def configure(db: psycopg.Connection, tenant, **settings: object) -> None:
    db.execute(
        "UPDATE tenants SET settings = settings || %s WHERE id = %s", (Jsonb(settings), tenant.id)
    )


def say(client, text: str, customer: str = CUSTOMER) -> str:
    """The customer writes: a signed webhook through the app, as Meta posts it."""
    wamid = f"wamid.plan{next(_wamids)}"
    body = encode(
        text_envelope(PHONE_NUMBER_ID, [(customer, "Ana", wamid, text, int(time.time()))])
    )
    response = client.post("/webhooks/whatsapp/acme", data=body, headers=signed_headers(body))
    assert response.status_code == 200
    return wamid


def sent_texts(graph: GraphApiSimulator) -> list[str]:
    return [s.request["text"]["body"] for s in graph.sent() if s.request.get("type") == "text"]


def chat_calls(llm: LlmSimulator) -> list:
    return [c for c in llm.calls if c.path == CHAT_PATH]


def prompted(llm: LlmSimulator) -> list[tuple[str, ...]]:
    """The customer messages each model call was asked to answer, call by call."""
    return [c.user_texts for c in chat_calls(llm)]


# The simulated model's answer to a greeting, from the clinic's profile (tone: "tú").
GREETING_ANSWER = (
    "¡Hola! Soy el asistente de Clínica Dental Sonrisa. ¿En qué te puedo ayudar? Puedo darte"
    " precios, horarios y nuestra dirección."
)


def replies(db: psycopg.Connection) -> list[tuple]:
    return db.execute(
        "SELECT outcome, source, through_message_id, reply_text, fallback_reason, cache_result"
        " FROM replies ORDER BY id"
    ).fetchall()


def prompts_of(db: psycopg.Connection, outcome: str) -> list[list[str]]:
    """For each reply with `outcome`, the customer messages its prompt asked it to answer."""
    answered = []
    for (messages,) in db.execute(
        "SELECT request -> 'messages' FROM replies WHERE outcome = %s ORDER BY id", (outcome,)
    ):
        roles = [m["role"] for m in messages]
        last_assistant = max((i for i, r in enumerate(roles) if r == "assistant"), default=-1)
        answered.append(
            [m["content"] for m in messages[last_assistant + 1 :] if m["role"] == "user"]
        )
    return answered


def inbound_ids(db: psycopg.Connection) -> list[int]:
    return [r[0] for r in db.execute("SELECT id FROM messages WHERE direction = 'in' ORDER BY id")]


def idle(db: psycopg.Connection) -> bool:
    return (
        db.execute(
            "SELECT count(*) FROM dramatiq.queue WHERE state IN ('queued', 'consumed')"
        ).fetchone()[0]
        == 0
    )


# --- debounce and order -----------------------------------------------------------------------


def test_a_burst_inside_the_quiet_window_gets_one_reply_that_sees_all_of_it(
    db, clinic, client, graph, llm, worker
):
    configure(db, clinic, quiet_window_seconds=1.5)
    for text in ("hola", "una pregunta", "¿abren el sábado?"):
        say(client, text)
        time.sleep(0.2)
    wait_for(lambda: len(sent_texts(graph)) == 1, what="one reply sent")
    wait_for(lambda: idle(db), what="queue drained")
    time.sleep(0.5)
    assert prompted(llm) == [("hola", "una pregunta", "¿abren el sábado?")]
    # The simulated model answers from the clinic's profile.
    (sent,) = sent_texts(graph)
    assert sent.startswith("Nuestro horario: lunes a viernes 09:00-19:00; sábado 09:00-14:00")
    ((outcome, source, through, *_),) = replies(db)
    assert (outcome, source, through) == ("queued", "llm", inbound_ids(db)[-1])


def test_a_burst_longer_than_the_history_is_answered_and_read_whole(
    db, clinic, client, graph, llm, worker
):
    configure(db, clinic, quiet_window_seconds=5)
    first = "soy Ana Pérez, mi correo es ana@example.com, quiero agendar una limpieza"
    burst = [first] + [f"mensaje {n}" for n in range(2, 26)]
    for text in burst:
        say(client, text)
    wait_for(lambda: len(sent_texts(graph)) == 1, what="one reply sent")
    wait_for(lambda: count(db, "lead_updates") == 1, what="lead updated")
    wait_for(lambda: idle(db), what="queue drained")
    (call,) = chat_calls(llm)
    # Every message, the first included (their order is the ingest's, not this test's).
    assert sorted(call.user_texts) == sorted(burst)
    ((outcome, source, through, *_),) = replies(db)
    assert (outcome, source, through) == ("queued", "llm", inbound_ids(db)[-1])
    replied_through = db.execute("SELECT replied_through FROM conversations").fetchone()[0]
    assert replied_through == inbound_ids(db)[-1] and len(inbound_ids(db)) == 25
    lead = db.execute("SELECT name, facts ->> 'name_source', email FROM leads").fetchone()
    assert lead == ("Ana Pérez", "stated", "ana@example.com")


def test_a_huge_text_is_stored_whole_and_reaches_the_model_capped(
    db, clinic, client, graph, llm, worker
):
    from webapp import MAX_BODY_BYTES

    # As large as a webhook body may carry: about 1 MiB.
    huge = ("Hola, les escribo por mi cita de limpieza. " * 30_000)[: MAX_BODY_BYTES - 2048]
    say(client, huge)
    wait_for(lambda: len(sent_texts(graph)) == 1, what="one reply sent")
    stored = db.execute("SELECT length(text) FROM messages WHERE direction = 'in'").fetchone()
    assert stored == (len(huge),)
    budget = SETTINGS.prompt_budget
    ((sent,),) = [call.user_texts for call in chat_calls(llm)]
    assert len(sent) <= budget.message_chars and sent.startswith("Hola, les escribo")
    prompt_tokens, instructions, messages_cut, chars_cut = db.execute(
        "SELECT prompt_tokens, length(request -> 'messages' -> 0 ->> 'content'),"
        " prompt_messages_cut, prompt_chars_cut FROM replies"
    ).fetchone()
    # The simulator counts a token per 4 characters of every message, instructions included.
    assert 0 < prompt_tokens <= (instructions + budget.conversation_chars) / 4 + 1
    assert messages_cut == 1 and chars_cut > len(huge) - budget.message_chars


def test_messages_after_a_reply_get_their_own_reply_in_order(
    db, clinic, client, graph, llm, worker
):
    for n, text in enumerate(("primero", "segundo", "tercero"), start=1):
        say(client, text)
        wait_for(lambda n=n: len(sent_texts(graph)) == n, what=f"reply {n}")
    assert prompted(llm) == [("primero",), ("segundo",), ("tercero",)]
    assert sent_texts(graph) == [r[3] for r in replies(db)]
    throughs = [r[2] for r in replies(db)]
    assert throughs == inbound_ids(db)
    replied_through = db.execute("SELECT replied_through FROM conversations").fetchone()[0]
    assert replied_through == inbound_ids(db)[-1]


def test_a_reply_made_stale_while_the_model_answers_is_discarded_never_sent(
    db, clinic, client, graph, llm, worker
):
    llm.configure(latency_ms=1_500)
    say(client, "quiero saber precios")
    time.sleep(0.8)  # stored, planned, and now waiting for the model
    say(client, "de la limpieza")
    wait_for(lambda: len(sent_texts(graph)) == 1, what="the reply to both")
    wait_for(lambda: idle(db), what="queue drained")
    time.sleep(0.5)
    assert prompted(llm)[-1] == ("quiero saber precios", "de la limpieza")
    assert sent_texts(graph) == ["Nuestros precios: Limpieza dental, 800 MXN."]
    outcomes = [(r[0], r[2]) for r in replies(db)]
    first, second = inbound_ids(db)
    assert outcomes == [("stale", first), ("queued", second)]
    # Only the stale reply's tokens and the kept reply's were spent: both are on the bill.
    assert db.execute("SELECT calls FROM llm_usage").fetchone()[0] == 2


def test_one_envelopes_messages_are_stored_shown_and_prompted_in_provider_order(
    db, clinic, client, graph, llm, worker
):
    from db.conversation_views import recent_messages

    configure(db, clinic, quiet_window_seconds=1.5)
    texts = [f"paso {n}" for n in range(1, 11)]
    sent_at = int(time.time()) - 60
    body = encode(
        text_envelope(
            PHONE_NUMBER_ID,
            [
                (CUSTOMER, "Ana", f"wamid.paso{n}", text, sent_at + n)
                for n, text in enumerate(texts)
            ],
        )
    )
    response = client.post("/webhooks/whatsapp/acme", data=body, headers=signed_headers(body))
    assert response.status_code == 200
    wait_for(lambda: len(sent_texts(graph)) == 1, what="one reply sent")
    wait_for(lambda: idle(db), what="queue drained")
    assert len(sent_texts(graph)) == 1
    assert prompted(llm) == [tuple(texts)]
    (prompt,) = db.execute("SELECT request -> 'messages' FROM replies").fetchone()
    assert [m["content"] for m in prompt if m["role"] == "user"] == texts
    conversation = db.execute("SELECT id FROM conversations").fetchone()[0]
    shown = recent_messages(db, clinic.id, conversation, 20)
    assert [m.text for m in shown if m.direction == "in"] == texts


def test_a_late_message_written_earlier_is_answered_once_and_shown_in_its_place(
    db, clinic, client, graph, llm, worker
):
    from db.conversation_views import recent_messages

    say(client, "primero")
    wait_for(lambda: len(sent_texts(graph)) == 1, what="the first reply")
    # Written half a minute before "primero", delivered by the provider only now.
    body = encode(
        text_envelope(
            PHONE_NUMBER_ID, [(CUSTOMER, "Ana", "wamid.late", "antes", int(time.time()) - 30)]
        )
    )
    response = client.post("/webhooks/whatsapp/acme", data=body, headers=signed_headers(body))
    assert response.status_code == 200
    wait_for(lambda: len(sent_texts(graph)) == 2, what="the late message answered")
    wait_for(lambda: idle(db), what="queue drained")
    assert len(sent_texts(graph)) == 2
    assert prompted(llm) == [("primero",), ("antes",)]
    assert [r[2] for r in replies(db)] == inbound_ids(db)
    # The prompt ends with what the reply answers; the conversation shows it where it was written.
    assert list(chat_calls(llm)[-1].user_texts) == ["antes"]
    conversation = db.execute("SELECT id FROM conversations").fetchone()[0]
    shown = recent_messages(db, clinic.id, conversation, 20)
    assert [m.text for m in shown if m.direction == "in"] == ["antes", "primero"]


def test_a_duplicated_planning_job_commits_one_reply(db, clinic, client, graph, llm, worker):
    import actors.plan
    from actors.chain import enqueue

    profile = db.execute("SELECT profile FROM tenants").fetchone()[0]
    db.execute("UPDATE tenants SET profile = NULL")  # store the message without planning it
    say(client, "hola, ¿cuánto cuesta una limpieza?")
    wait_for(lambda: count(db, "messages") == 1 and idle(db), what="message stored")
    db.execute("UPDATE tenants SET profile = %s", (Jsonb(profile),))
    conversation, through = db.execute("SELECT conversation_id, id FROM messages").fetchone()
    llm.configure(latency_ms=300)
    # The same job twice at once, as a redelivery racing the original would run it.
    with db.transaction():
        enqueue(db, [actors.plan.plan_reply.message(conversation, through) for _ in range(2)])
    wait_for(lambda: idle(db), what="queue drained")
    assert len(chat_calls(llm)) == 2
    # The second run found the reply committed: recorded, never queued.
    assert sorted(r[0] for r in replies(db)) == ["duplicate", "queued"]
    wait_for(lambda: len(sent_texts(graph)) == 1)


# --- hand-off ---------------------------------------------------------------------------------


def test_asking_for_a_person_hands_off_and_the_bot_stays_quiet(
    db, clinic, client, graph, llm, worker
):
    from db.handoffs import return_to_bot

    say(client, "quiero hablar con una persona por favor")
    wait_for(lambda: len(sent_texts(graph)) == 1, what="the hand-off notice")
    assert "persona" in sent_texts(graph)[0]
    status, reason = db.execute("SELECT status, needs_human_reason FROM conversations").fetchone()
    assert (status, reason) == ("handoff", "customer asked for a person")
    assert count(db, "agent_notifications", "kind = 'handoff'") == 1
    assert chat_calls(llm) == []  # the rule answered; no model call
    say(client, "¿hola? ¿alguien?")
    wait_for(lambda: idle(db), what="queue drained")
    time.sleep(0.5)
    assert len(sent_texts(graph)) == 1
    assert chat_calls(llm) == []

    conversation = db.execute("SELECT id FROM conversations").fetchone()[0]
    assert return_to_bot(db, clinic.id, conversation)
    say(client, "gracias, ya me atendieron; ¿abren el sábado?")
    wait_for(lambda: len(sent_texts(graph)) == 2, what="the assistant is back")
    # Nobody answered "¿hola? ¿alguien?": the assistant's next reply covers it as well.
    assert [r[2] for r in replies(db)] == [inbound_ids(db)[0], inbound_ids(db)[-1]]
    assert prompted(llm)[-1][-1] == "gracias, ya me atendieron; ¿abren el sábado?"
    assert sent_texts(graph)[1].startswith("Nuestro horario: lunes a viernes")


def test_the_handoff_notice_says_usted_when_the_profile_does(
    db, clinic, client, graph, llm, worker
):
    db.execute(
        "UPDATE tenants SET profile = profile || %s WHERE id = %s",
        (Jsonb({"tone": "amable y breve; trata de usted"}), clinic.id),
    )
    say(client, "quiero hablar con una persona")
    wait_for(lambda: len(sent_texts(graph)) == 1, what="the hand-off notice")
    assert sent_texts(graph) == [
        "Gracias por su mensaje. Le comunico con una persona de Clínica Dental Sonrisa;"
        " le responderá en breve."
    ]


def test_on_return_the_assistant_answers_what_was_written_meanwhile(
    db, clinic, client, graph, llm, worker
):
    from click.testing import CliRunner

    from ops.cli import main

    say(client, "quiero hablar con una persona por favor")
    wait_for(lambda: len(sent_texts(graph)) == 1, what="the hand-off notice")
    say(client, "¿hola? ¿alguien? ¿abren el sábado?")
    wait_for(lambda: idle(db), what="queue drained")
    conversation = db.execute("SELECT id FROM conversations").fetchone()[0]

    result = CliRunner().invoke(
        main, ["conversations", "return", "--tenant", "acme", str(conversation)]
    )

    assert result.exit_code == 0, result.output
    # Answered without the customer having to write again.
    wait_for(lambda: len(sent_texts(graph)) == 2, what="the unanswered message answered")
    assert prompted(llm)[-1] == ("¿hola? ¿alguien? ¿abren el sábado?",)
    assert "sábado 09:00-14:00" in sent_texts(graph)[1]
    assert [r[2] for r in replies(db)] == inbound_ids(db)


def test_two_low_confidence_turns_hand_off(db, clinic, client, graph, llm, worker):
    say(client, "algo raro [low-confidence]")
    wait_for(lambda: len(sent_texts(graph)) == 1)
    assert db.execute("SELECT status FROM conversations").fetchone()[0] == "open"
    say(client, "otra cosa rara [low-confidence]")
    wait_for(lambda: count(db, "agent_notifications") == 1, what="hand-off")
    assert db.execute("SELECT needs_human_reason FROM conversations").fetchone()[0] == (
        "low confidence twice"
    )
    wait_for(lambda: len(sent_texts(graph)) == 2)
    assert "persona" in sent_texts(graph)[1]  # the notice, not the model's low-confidence text


def test_a_complaint_hands_off(db, clinic, client, graph, llm, worker):
    say(client, "tengo una queja, el servicio fue terrible")
    wait_for(lambda: count(db, "agent_notifications") == 1)
    assert db.execute("SELECT needs_human_reason FROM conversations").fetchone()[0] == "complaint"


def test_a_configured_keyword_hands_off(db, clinic, client, graph, llm, worker):
    configure(db, clinic, handoff_keywords=["factura"])
    say(client, "necesito mi factura de octubre")
    wait_for(lambda: count(db, "agent_notifications") == 1)
    assert db.execute("SELECT needs_human_reason FROM conversations").fetchone()[0] == (
        "keyword: factura"
    )
    assert chat_calls(llm) == []


def test_a_reply_queued_before_the_hand_off_is_withdrawn_at_send_time(db, clinic, graph):
    """The send step checks the conversation again right before the call."""
    from actors.send import queue_outbound, send_message
    from db import conversations, handoffs

    contact = conversations.upsert_contact(
        db, tenant_id=clinic.id, channel="whatsapp", channel_user_id=CUSTOMER,
        phone_e164="+" + CUSTOMER, profile_name="Ana",
    )  # fmt: skip
    conversation = conversations.live_conversation(
        db, tenant_id=clinic.id, contact_id=contact, channel="whatsapp",
        inbound_at=db.execute("SELECT now()").fetchone()[0],
    )  # fmt: skip
    with db.transaction():
        bot = queue_outbound(
            db, tenant_id=clinic.id, conversation_id=conversation.id, channel="whatsapp",
            type="text", text="respuesta del asistente", details={"author": "assistant"},
        )  # fmt: skip
        agent = queue_outbound(
            db, tenant_id=clinic.id, conversation_id=conversation.id, channel="whatsapp",
            type="text", text="hola, soy Marta", details={"author": "agent"},
        )  # fmt: skip
    assert handoffs.hand_off(db, clinic.id, conversation.id, "agent took over") is not None
    send_message.fn(bot)
    send_message.fn(agent)
    assert sent_texts(graph) == ["hola, soy Marta"]
    statuses = dict(db.execute("SELECT id, delivery_status FROM messages").fetchall())
    assert statuses[bot] == "cancelled"


# --- the model failing ------------------------------------------------------------------------


def test_a_transient_model_error_is_retried_by_the_step(db, clinic, client, graph, llm, worker):
    llm.script(["500"])
    # Personal, so no cache lookup spends the scripted fault on an embedding call.
    say(client, "me llamo Ana, ¿cuánto cuesta una limpieza?")
    wait_for(lambda: len(sent_texts(graph)) == 1, what="reply after one retry")
    assert [c.status for c in chat_calls(llm)] == [500, 200]
    assert replies(db)[0][1] == "llm"


def test_when_the_model_keeps_failing_the_profile_answers_and_a_person_is_asked(
    db, clinic, client, graph, llm, worker
):
    llm.configure(fault_rate=1.0, faults=("500",))
    say(client, "¿cuánto cuesta una limpieza?")
    wait_for(lambda: len(sent_texts(graph)) == 1, timeout=40, what="the fallback reply")
    ((outcome, source, _, text, reason, _),) = replies(db)
    assert (outcome, source) == ("queued", "fallback")
    # Three failures open the tenant's model breaker (RECADO_BREAKER_FAILURES=3 in tests).
    assert reason in ("breaker_open", "llm_error")
    assert "Simulated" not in text
    prices = {str(s["price"]) for s in CLINIC_PROFILE["services"] if s.get("price") is not None}
    assert any(price in text for price in prices), text
    flagged = db.execute("SELECT needs_human_reason FROM conversations").fetchone()[0]
    assert flagged.startswith("answered without the assistant")
    assert count(db, "dead_letters") == 0


def test_a_refused_call_answers_from_the_profile_at_once(db, clinic, client, graph, llm, worker):
    llm.script(["quota"])
    say(client, "Soy Ana, ¿cuál es la dirección?")
    wait_for(lambda: len(sent_texts(graph)) == 1)
    assert [r[1] for r in replies(db)] == ["fallback"]
    assert len(chat_calls(llm)) == 1


def test_without_a_key_the_profile_answers(db, clinic, client, graph, llm, worker, runtime):
    from actors.runtime import Runtime, install

    keyless = Runtime(replace(SETTINGS, openai_api_key=None))
    install(keyless)
    try:
        say(client, "¿a qué hora abren?")
        wait_for(lambda: len(sent_texts(graph)) == 1)
    finally:
        install(runtime)
        keyless.close()
    assert [(r[1], r[4]) for r in replies(db)] == [("fallback", "no_key")]
    assert llm.calls == []


def test_the_monthly_cap_is_checked_before_each_call(db, clinic, client, graph, llm, worker):
    say(client, "hola")
    wait_for(lambda: len(sent_texts(graph)) == 1)
    tokens = db.execute("SELECT prompt_tokens + completion_tokens FROM llm_usage").fetchone()[0]
    assert tokens > 0
    configure(db, clinic, llm_monthly_token_cap=tokens)
    say(client, "¿cuánto cuesta una limpieza?")
    wait_for(lambda: len(sent_texts(graph)) == 2)
    assert [(r[1], r[4]) for r in replies(db)] == [("llm", None), ("fallback", "cap_reached")]
    assert len(chat_calls(llm)) == 1


# --- the answer cache ----------------------------------------------------------------------


def test_a_faq_answer_is_reused_for_the_next_customer(db, clinic, client, graph, llm, worker):
    say(client, "¿Cuál es el horario?", customer="5215500000001")
    wait_for(lambda: count(db, "answer_cache") == 1, what="the answer remembered")
    say(client, "cual es el horario", customer="5215500000002")
    wait_for(lambda: len(sent_texts(graph)) == 2)
    first, second = sent_texts(graph)
    assert first == second
    assert len(chat_calls(llm)) == 1
    assert [r[5] for r in replies(db)] == ["miss", "hit_exact"]


def test_a_similar_question_hits_by_embedding(db, clinic, client, graph, llm, worker):
    say(client, "¿Cuál es el horario de atención de la clínica dental?", customer="5215500000001")
    wait_for(lambda: count(db, "answer_cache") == 1, what="the answer remembered")
    say(client, "cual es el horario de atencion de la clinica", customer="5215500000002")
    wait_for(lambda: len(sent_texts(graph)) == 2)
    assert len(chat_calls(llm)) == 1
    assert [r[5] for r in replies(db)] == ["miss", "hit_semantic"]
    assert any(c.path == EMBEDDINGS_PATH for c in llm.calls)


def test_personal_or_availability_questions_never_touch_the_cache(
    db, clinic, client, graph, llm, worker
):
    for n, text in enumerate(
        ("¿tienen espacio mañana a las 5?", "me llamo Ana García, ¿cuál es el horario?"), start=1
    ):
        say(client, text, customer=f"52155000000{n:02d}")
        wait_for(lambda n=n: len(sent_texts(graph)) == n)
    wait_for(lambda: idle(db))
    assert [r[5] for r in replies(db)] == ["skip", "skip"]
    assert count(db, "answer_cache") == 0


# --- lead record and audit --------------------------------------------------------------------


def test_what_the_customer_says_fills_the_lead_once(db, clinic, client, graph, llm, worker):
    from actors.followups import record_lead

    say(client, "Hola, me llamo Ana García, quiero una cita para una limpieza mañana a las 5")
    wait_for(lambda: count(db, "lead_updates") == 1, what="lead updated")
    lead = db.execute("SELECT name, facts ->> 'name_source', score, stage FROM leads").fetchone()
    # name stated +5, a service +10, a proposed time +15, intent book +25 (domain/leads.py)
    assert lead == ("Ana García", "stated", 55, "qualified")
    services = [r[0] for r in db.execute("SELECT service FROM lead_service_interest")]
    assert services == ["Limpieza dental"]
    reply_id = db.execute("SELECT id FROM replies").fetchone()[0]
    record_lead.fn(reply_id)  # a re-run changes nothing
    assert db.execute("SELECT score FROM leads").fetchone()[0] == 55
    assert db.execute("SELECT mentions FROM lead_service_interest").fetchone()[0] == 1


def test_each_reply_keeps_its_audit_record(db, clinic, client, graph, llm, worker):
    say(client, "¿cuánto cuesta una limpieza?")
    wait_for(lambda: len(sent_texts(graph)) == 1)
    row = db.execute(
        "SELECT prompt_version, model, prompt_tokens, completion_tokens, latency_ms, cost_usd,"
        " request -> 'messages' -> -1 ->> 'content', intent, confidence FROM replies"
    ).fetchone()
    version, model, prompt, completion, latency, cost, last_turn, intent, confidence = row
    assert version and model == "recado-sim"
    assert prompt > 0 and completion > 0 and latency is not None
    assert cost == 0  # a self-hosted model: no per-token price
    assert last_turn == "¿cuánto cuesta una limpieza?"
    assert intent == "price" and confidence == pytest.approx(0.9)


# --- worker processes ---------------------------------------------------------------------


@pytest.fixture
def workers(db: psycopg.Connection, tmp_path: Path) -> Iterator[WorkerProcesses]:
    group = WorkerProcesses(db, tmp_path)
    try:
        yield group
    finally:
        group.kill_all()


def test_two_worker_processes_plan_one_conversation_in_order(
    db, clinic, client, graph, llm, workers
):
    llm.configure(latency_ms=250)
    for _ in range(2):
        workers.start()
    workers.wait_listening(2)
    texts = [f"mensaje {n}" for n in range(8)]
    for text in texts:
        say(client, text)
        time.sleep(0.3)
    last = inbound_ids(db)[-1]
    wait_for(
        lambda: db.execute("SELECT replied_through FROM conversations").fetchone()[0] == last,
        timeout=60,
        what="every message planned",
    )
    wait_for(lambda: idle(db), what="queue drained")
    queued = [r for r in replies(db) if r[0] == "queued"]
    throughs = [r[2] for r in queued]
    assert throughs == sorted(set(throughs)), "replies committed out of order or twice"
    wait_for(lambda: len(sent_texts(graph)) == len(queued), what="every reply sent")
    sent = sent_texts(graph)
    assert sent == [r[3] for r in queued]
    # Every message is answered by exactly one sent reply: the one whose prompt ended with it.
    answered = [text for texts_of_one in prompts_of(db, "queued") for text in texts_of_one]
    assert sorted(answered) == sorted(texts), answered


def test_a_worker_killed_while_the_model_answers_leaves_one_reply(
    db, clinic, client, graph, llm, workers
):
    llm.configure(latency_ms=2_500)
    victim = workers.start(RECADO_SWEEP_AFTER_SECONDS="2")
    workers.wait_listening(1)
    say(client, "hola, me llamo Ana")
    wait_for(lambda: count(db, "messages") == 1, what="message stored")
    time.sleep(1.0)  # planned, and waiting for the model
    workers.kill(victim)
    assert sent_texts(graph) == []
    llm.configure(latency_ms=0)
    workers.start(RECADO_SWEEP_AFTER_SECONDS="2")
    wait_for(lambda: len(sent_texts(graph)) == 1, timeout=60, what="the reply after the restart")
    wait_for(lambda: idle(db), what="queue drained")
    time.sleep(1.0)
    assert sent_texts(graph) == [GREETING_ANSWER]
    assert [r[0] for r in replies(db)] == ["queued"]
    assert prompted(llm)[-1] == ("hola, me llamo Ana",)


def test_an_unsure_answer_is_sent_but_never_cached(db, clinic, client, graph, llm, worker):
    say(client, "¿Cuál es el horario? [low-confidence]")
    wait_for(lambda: len(sent_texts(graph)) == 1)
    wait_for(lambda: idle(db), what="queue drained")
    assert [r[5] for r in replies(db)] == ["miss"]
    assert count(db, "answer_cache") == 0


def test_a_cacheable_question_is_asked_without_the_customers_details(
    db, clinic, client, graph, llm, worker
):
    say(client, "Me llamo Ana García")
    wait_for(lambda: len(sent_texts(graph)) == 1)
    say(client, "¿Cuál es el horario?")
    wait_for(lambda: count(db, "answer_cache") == 1, what="the answer remembered")
    system, turns = db.execute(
        "SELECT request -> 'messages' -> 0 ->> 'content', jsonb_array_length(request -> 'messages')"
        " FROM replies ORDER BY id DESC LIMIT 1"
    ).fetchone()
    assert "Ana" not in system
    assert turns == 2  # the instructions and the question: no history


def test_a_similar_question_about_another_service_never_hits(
    db, clinic, client, graph, llm, worker
):
    # One word apart: 0.98 similar for the simulator's embeddings, above the 0.92 threshold.
    question = (
        "¿Cuál es el precio de la {} dental completa en su clínica de la colonia Del Valle"
        " en la Ciudad de México?"
    )
    say(client, question.format("limpieza"), customer="5215500000001")
    wait_for(lambda: count(db, "answer_cache") == 1, what="the answer remembered")
    say(client, question.format("blanqueamiento"), customer="5215500000002")
    wait_for(lambda: len(sent_texts(graph)) == 2)
    assert len(chat_calls(llm)) == 2
    assert [r[5] for r in replies(db)] == ["miss", "miss"]
