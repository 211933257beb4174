"""The send step against the Graph API simulator over real HTTP, statuses flowing back through
the real webhook: at most one send per outbound message, whatever fails."""

import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

import pytest

from ops.simulators.graph_api import GraphApiSimulator, SimulatorConfig, TenantRoute
from tests.conftest import GRAPH_API_PORT, count

PHONE_NUMBER_ID = "106540352242922"
RECIPIENT = "16505551234"


def wait_for(condition: Callable[[], bool], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.05)


@pytest.fixture
def graph_api(live_server, tenant) -> Iterator[Callable[..., GraphApiSimulator]]:
    """Starts the simulator on the port the app is configured for, with the given options."""
    started: list[GraphApiSimulator] = []

    def start(**options) -> GraphApiSimulator:
        route = TenantRoute(
            webhook_url=f"{live_server}/webhooks/whatsapp/acme",
            app_secret="acme-app-secret",
            access_token="acme-access-token",
        )
        options.setdefault("status_delays_ms", (20, 40, 60))
        config = SimulatorConfig(
            routes={PHONE_NUMBER_ID: route}, port=GRAPH_API_PORT, seed=7, **options
        )
        simulator = GraphApiSimulator(config).start()
        started.append(simulator)
        return simulator

    yield start
    for simulator in started:
        simulator.stop()


def conversation(db, tenant, *, inbound_hours_ago: float = 0.1) -> int:
    from db import conversations

    contact = conversations.upsert_contact(
        db,
        tenant_id=tenant.id,
        channel="whatsapp",
        channel_user_id=RECIPIENT,
        phone_e164="+" + RECIPIENT,
        profile_name="Sheena",
    )
    return conversations.live_conversation(
        db,
        tenant_id=tenant.id,
        contact_id=contact,
        channel="whatsapp",
        inbound_at=datetime.now(UTC) - timedelta(hours=inbound_hours_ago),
    ).id


def queue_text(db, tenant, conversation_id: int, text: str = "Your appointment is at 5") -> int:
    from actors.send import queue_outbound

    with db.transaction():
        return queue_outbound(
            db,
            tenant_id=tenant.id,
            conversation_id=conversation_id,
            channel="whatsapp",
            type="text",
            text=text,
        )


def status(db, message_id: int) -> str:
    return db.execute(
        "SELECT delivery_status FROM messages WHERE id = %s", (message_id,)
    ).fetchone()[0]


def test_outbox_row_exists_before_the_send_and_reaches_read(db, tenant, graph_api, worker):
    from domain.outbox import callback_data

    simulator = graph_api()
    message_id = queue_text(db, tenant, conversation(db, tenant))
    wait_for(lambda: status(db, message_id) == "read")
    (sent,) = simulator.sent()
    assert sent.to == RECIPIENT
    assert sent.callback_data == callback_data(message_id)
    assert sent.request["text"]["body"] == "Your appointment is at 5"
    row = db.execute(
        "SELECT provider_message_id, send_attempts, send_uncertain, sent_at IS NOT NULL,"
        " delivered_at IS NOT NULL, read_at IS NOT NULL FROM messages WHERE id = %s",
        (message_id,),
    ).fetchone()
    assert row == (sent.wamid, 1, False, True, True, True)


def test_shuffled_statuses_still_end_at_read(db, tenant, graph_api, worker):
    simulator = graph_api(shuffle_statuses=True)
    ids = [queue_text(db, tenant, conversation(db, tenant), f"m{n}") for n in range(5)]
    wait_for(lambda: all(status(db, i) == "read" for i in ids))
    assert simulator.counts().accepted == 5
    assert count(db, "inbound_events", "outcome = 'stale'") + count(
        db, "inbound_events", "outcome = 'applied'"
    ) == count(db, "inbound_events")


def test_retryable_errors_back_off_then_succeed(db, tenant, graph_api, worker):
    from actors.chain import enqueue
    from actors.send import send_message
    from db.messages import insert_outbound

    # Two refusals (rate limit, then a 500), then a success; only the success is a send.
    simulator = graph_api(faults={"429": 0.5, "500": 0.5})
    conversation_id = conversation(db, tenant)
    with db.transaction():
        message_id = insert_outbound(
            db,
            tenant_id=tenant.id,
            conversation_id=conversation_id,
            channel="whatsapp",
            type="text",
            text="hi",
        )
        fast = send_message.message_with_options(
            args=(message_id,), min_backoff=100, max_backoff=200, max_retries=5
        )
        enqueue(db, [fast])
    wait_for(lambda: count(db, "step_runs", "outcome = 'retry'") >= 2)
    simulator.stop()
    healthy = graph_api()
    wait_for(lambda: status(db, message_id) in ("sent", "delivered", "read"))
    assert simulator.counts().accepted == 0
    assert len(healthy.sent()) == 1
    assert count(db, "dead_letters") == 0


def test_permanent_error_fails_the_message_with_a_dead_letter(db, tenant, graph_api, worker):
    simulator = graph_api(faults={"131047": 1.0})
    message_id = queue_text(db, tenant, conversation(db, tenant))
    wait_for(lambda: count(db, "dead_letters") == 1)
    assert status(db, message_id) == "failed"
    (error,) = db.execute("SELECT error FROM messages WHERE id = %s", (message_id,)).fetchone()
    assert error[0]["code"] == 131047
    letter = db.execute("SELECT actor, attempts, tenant_id FROM dead_letters").fetchone()
    assert letter == ("send_message", 1, tenant.id)
    assert simulator.counts().accepted == 0


def test_async_failed_status_fails_the_message(db, tenant, graph_api, worker):
    graph_api(fail_recipients={RECIPIENT: 131026})
    message_id = queue_text(db, tenant, conversation(db, tenant))
    wait_for(lambda: status(db, message_id) == "failed")
    (error,) = db.execute("SELECT error FROM messages WHERE id = %s", (message_id,)).fetchone()
    assert error[0]["code"] == 131026
    letter = db.execute(
        "SELECT actor, args, exception_type, exception_text, tenant_id FROM dead_letters"
    ).fetchone()
    assert letter[:3] == ("send_message", [message_id], "whatsapp.FailedStatus")
    assert "131026" in letter[3]
    assert letter[4] == tenant.id


def test_token_error_pauses_the_tenant_until_resumed(db, tenant, graph_api, worker):
    from click.testing import CliRunner

    from ops.cli import main

    simulator = graph_api()
    db.execute("UPDATE tenants SET wa_access_token = 'revoked' WHERE id = %s", (tenant.id,))
    message_id = queue_text(db, tenant, conversation(db, tenant))
    wait_for(lambda: count(db, "dead_letters") == 1)
    paused = db.execute(
        "SELECT sending_paused_at IS NOT NULL FROM tenants WHERE id = %s", (tenant.id,)
    ).fetchone()[0]
    assert paused
    # Not the message's fault: it is not failed, it waits for the operator.
    assert status(db, message_id) == "sending"
    second = queue_text(db, tenant, conversation(db, tenant))
    wait_for(lambda: count(db, "dead_letters") == 2)
    assert status(db, second) == "pending"

    # The operator fixes the token and resumes: both waiting sends go out, once each.
    db.execute(
        "UPDATE tenants SET wa_access_token = 'acme-access-token' WHERE id = %s", (tenant.id,)
    )
    result = CliRunner().invoke(main, ["tenants", "resume", "acme"])
    assert result.exit_code == 0, result.output
    assert "2 waiting sends requeued" in result.output
    wait_for(lambda: status(db, message_id) == "read" and status(db, second) == "read")
    assert len(simulator.sent()) == 2


def test_dropped_answer_is_not_sent_twice(db, tenant, graph_api, worker):
    # The provider accepts, then the connection drops before the answer: the outcome is
    # unknown. The retry waits for evidence, and the status webhook carrying our id is it.
    simulator = graph_api(faults={"drop": 1.0})
    message_id = queue_text(db, tenant, conversation(db, tenant))
    wait_for(lambda: status(db, message_id) == "read")
    time.sleep(4)  # longer than the evidence wait (3 s in tests): no resend comes
    assert len(simulator.sent()) == 1
    row = db.execute(
        "SELECT provider_message_id, resends FROM messages WHERE id = %s", (message_id,)
    ).fetchone()
    assert row == (simulator.sent()[0].wamid, 0)


def test_without_evidence_the_send_is_repeated_once_and_counted(db, tenant, graph_api, worker):
    # No status webhooks at all: after the evidence wait the message is sent again.
    simulator = graph_api(faults={"drop": 1.0}, send_statuses=False)
    message_id = queue_text(db, tenant, conversation(db, tenant))
    wait_for(lambda: len(simulator.sent()) == 2, timeout=40)
    simulator.stop()
    graph_api(send_statuses=False)
    wait_for(lambda: status(db, message_id) == "sent", timeout=40)
    (resends,) = db.execute("SELECT resends FROM messages WHERE id = %s", (message_id,)).fetchone()
    assert resends >= 1


def test_outside_the_window_the_reengagement_template_is_sent(db, tenant, graph_api, worker):
    from psycopg.types.json import Jsonb

    template = {"name": "we_miss_you", "language": "es_MX"}
    db.execute(
        "UPDATE tenants SET settings = %s WHERE id = %s",
        (Jsonb({"reengagement_template": template}), tenant.id),
    )
    simulator = graph_api()
    message_id = queue_text(db, tenant, conversation(db, tenant, inbound_hours_ago=25))
    wait_for(lambda: status(db, message_id) == "read")
    (sent,) = simulator.sent()
    assert sent.type == "template"
    assert sent.request["template"]["name"] == "we_miss_you"
    assert "text" not in sent.request


def test_outside_the_window_without_template_a_person_is_asked(db, tenant, graph_api, worker):
    simulator = graph_api()
    conversation_id = conversation(db, tenant, inbound_hours_ago=30)
    message_id = queue_text(db, tenant, conversation_id)
    wait_for(lambda: status(db, message_id) == "failed")
    flagged = db.execute(
        "SELECT status, needs_human_reason FROM conversations WHERE id = %s", (conversation_id,)
    ).fetchone()
    assert flagged == ("handoff", "24-hour window closed")
    assert simulator.sent() == []


def test_requeued_message_still_obeys_the_window(db, tenant, graph_api, worker):
    from click.testing import CliRunner

    from ops.cli import main

    simulator = graph_api(faults={"500": 1.0})
    conversation_id = conversation(db, tenant)
    from actors.chain import enqueue
    from actors.send import send_message
    from db.messages import insert_outbound

    with db.transaction():
        message_id = insert_outbound(
            db,
            tenant_id=tenant.id,
            conversation_id=conversation_id,
            channel="whatsapp",
            type="text",
            text="hi",
        )
        enqueue(db, [send_message.message_with_options(args=(message_id,), max_retries=0)])
    wait_for(lambda: count(db, "dead_letters") == 1)
    simulator.stop()
    graph_api()
    # By the time the operator requeues, the window has closed.
    db.execute(
        "UPDATE conversations SET last_inbound_at = now() - interval '2 days' WHERE id = %s",
        (conversation_id,),
    )
    (letter,) = db.execute("SELECT id FROM dead_letters").fetchone()
    result = CliRunner().invoke(main, ["dead-letters", "requeue", str(letter)])
    assert result.exit_code == 0, result.output
    wait_for(lambda: status(db, message_id) == "failed")
    assert (
        db.execute("SELECT status FROM conversations WHERE id = %s", (conversation_id,)).fetchone()[
            0
        ]
        == "handoff"
    )


def test_breaker_opens_keeps_messages_pending_and_closes(db, tenant, graph_api, worker):
    from click.testing import CliRunner

    from ops.cli import main

    failing = graph_api(faults={"500": 1.0})
    ids = [queue_text(db, tenant, conversation(db, tenant), f"m{n}") for n in range(4)]
    wait_for(
        lambda: (
            db.execute("SELECT count(*) FROM circuit_breakers WHERE state = 'open'").fetchone()[0]
            == 1
        )
    )
    stats = CliRunner().invoke(main, ["queue", "stats"])
    assert "open" in stats.output, stats.output
    calls_when_opened = failing.counts().faults["500"]
    time.sleep(1)  # cool-down is 2 s in tests: nothing is called meanwhile
    assert failing.counts().faults["500"] == calls_when_opened
    assert all(status(db, i) in ("pending", "sending") for i in ids)
    failing.stop()
    healthy = graph_api()
    wait_for(lambda: all(status(db, i) in ("sent", "delivered", "read") for i in ids), 60)
    assert len(healthy.sent()) == 4
    assert db.execute("SELECT state FROM circuit_breakers").fetchone()[0] == "closed"


def test_read_receipt_with_typing_indicator_when_the_tenant_asks(
    client, db, tenant, graph_api, worker
):
    from psycopg.types.json import Jsonb

    from tests.conftest import fixture_body, signed_headers

    db.execute(
        "UPDATE tenants SET settings = %s WHERE id = %s",
        (Jsonb({"read_receipts": True, "typing_indicator": True}), tenant.id),
    )
    simulator = graph_api()
    body = fixture_body("text.json")
    headers = signed_headers(body)
    assert client.post("/webhooks/whatsapp/acme", data=body, headers=headers).status_code == 200
    wait_for(lambda: len(simulator.reads()) == 1)
    (read,) = simulator.reads()
    assert read.message_id.startswith("wamid.")
    assert read.typing_indicator is True
    assert simulator.sent() == []


def test_operator_message_from_the_cli_is_delivered(db, tenant, graph_api, worker):
    from click.testing import CliRunner

    from ops.cli import main

    simulator = graph_api()
    conversation(db, tenant)
    runner = CliRunner()
    result = runner.invoke(
        main, ["messages", "send", "--tenant", "acme", "--to", RECIPIENT, "--text", "Hola!"]
    )
    assert result.exit_code == 0, result.output
    wait_for(lambda: len(simulator.sent()) == 1)
    assert simulator.sent()[0].request["text"]["body"] == "Hola!"
    # A person answered: the assistant steps aside in that conversation.
    assert "now with a person" in result.output
    status, reason = db.execute("SELECT status, needs_human_reason FROM conversations").fetchone()
    assert (status, reason) == ("handoff", "an agent replied")
    unknown = runner.invoke(
        main, ["messages", "send", "--tenant", "acme", "--to", "15550000000", "--text", "x"]
    )
    assert unknown.exit_code == 1
    assert "15550000000" not in unknown.output  # masked
