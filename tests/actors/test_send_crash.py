"""kill -9 between the provider's acceptance and our record of it (issue 3, items 2 and 8).

The simulator's 'timeout' fault accepts and logs the send, then holds its answer; the worker
process waiting for that answer is SIGKILLed, so the outbox row stays `sending` with
`send_uncertain`, and its job stays consumed by a dead session. A new worker process's sweeper
re-announces the orphaned job (RECADO_SWEEP_AFTER_SECONDS=2); what the re-run does depends on
the evidence that the first attempt was accepted.
"""

from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path

import psycopg
import pytest

from domain.outbox import callback_data
from ops.simulators.graph_api import GraphApiSimulator, SimulatorConfig, TenantRoute
from tests.actors.test_send_pacing import (
    PHONE_NUMBER_ID,
    RECIPIENT,
    WorkerProcesses,
    conversation_with,
    no_unfinished_jobs,
    queue_texts,
    wait_for,
)
from tests.conftest import GRAPH_API_PORT

EVIDENCE_WAIT_S = 3.0  # RECADO_SEND_EVIDENCE_WAIT_SECONDS, set by tests/conftest.py
HOLD_S = 20.0  # the faulty simulator holds its answer far longer than the test takes


@pytest.fixture
def workers(db: psycopg.Connection, tmp_path: Path) -> Iterator[WorkerProcesses]:
    group = WorkerProcesses(db, tmp_path)
    try:
        yield group
    finally:
        group.kill_all()


@pytest.fixture
def graph_api(live_server, tenant) -> Iterator[Callable[..., GraphApiSimulator]]:
    """Starts a simulator on the port the workers call, posting statuses to the live app."""
    started: list[GraphApiSimulator] = []

    def start(**options) -> GraphApiSimulator:
        route = TenantRoute(
            webhook_url=f"{live_server}/webhooks/whatsapp/acme",
            app_secret="acme-app-secret",
            access_token="acme-access-token",
        )
        config = SimulatorConfig(
            routes={PHONE_NUMBER_ID: route}, port=GRAPH_API_PORT, seed=7, **options
        )
        simulator = GraphApiSimulator(config).start()
        started.append(simulator)
        return simulator

    try:
        yield start
    finally:
        for simulator in started:
            simulator.stop()


def outbox_row(db: psycopg.Connection, message_id: int) -> tuple:
    return db.execute(
        "SELECT delivery_status, provider_message_id, send_uncertain, send_attempts, resends"
        " FROM messages WHERE id = %s",
        (message_id,),
    ).fetchone()


def send_and_kill(db, tenant, workers: WorkerProcesses, faulty: GraphApiSimulator) -> int:
    """Queue one text, let a worker process's send be accepted, SIGKILL it before the answer."""
    victim = workers.start()
    workers.wait_listening(1)
    (message_id,) = queue_texts(db, tenant, [conversation_with(db, tenant, RECIPIENT)])
    wait_for(lambda: len(faulty.sent()) == 1, 20, "the provider to accept the send", workers.logs)
    workers.kill(victim)
    # Accepted by the provider, unknown to us: no provider id, the attempt is uncertain.
    assert outbox_row(db, message_id) == ("sending", None, True, 1, 0)
    return message_id


def test_statuses_of_the_first_send_settle_it_after_the_crash(db, tenant, graph_api, workers):
    # Statuses a little after the acceptance, so they reach the webhook while no worker runs:
    # stored with their jobs, they are applied first thing by the next worker, before the
    # sweeper re-announces the orphaned send (>= 2 s stale) and long before a resend is due.
    faulty = graph_api(
        faults={"timeout": 1.0}, timeout_hold_s=HOLD_S, status_delays_ms=(300, 400, 500)
    )
    message_id = send_and_kill(db, tenant, workers, faulty)
    assert faulty.wait_for_webhooks(10), "status webhooks still pending"
    assert faulty.counts().webhooks_delivered == 3, faulty.counts()
    faulty.stop()
    healthy = graph_api()

    workers.start(RECADO_SWEEP_AFTER_SECONDS="2")
    settled = wait_for(
        lambda: outbox_row(db, message_id)[0] == "read", 30, "the statuses", workers.logs
    )
    # The orphaned send job ran again and found the message already accepted.
    wait_for(lambda: no_unfinished_jobs(db), 30, "the orphaned send to re-run", workers.logs)

    (sent,) = faulty.sent()
    assert sent.callback_data == callback_data(message_id)
    assert healthy.sent() == [], "sent a second time"
    assert outbox_row(db, message_id)[:2] == ("read", sent.wamid)
    assert outbox_row(db, message_id)[3:] == (1, 0), "one attempt, no resend"
    print(f"\nsettled by the first send's statuses {settled:.1f} s after the restart")


def test_without_any_evidence_the_message_is_resent_once(db, tenant, graph_api, workers):
    """No status webhook ever arrives, so nothing says whether the provider got the first
    attempt. WhatsApp offers no idempotency key, so the choice is between a message possibly
    lost and a message possibly doubled. By design (issue 3 item 2, domain/outbox.py) recado
    waits `send_evidence_wait` (120 s in production, 3 s here) from the uncertain attempt for a
    status carrying our id, then sends again, once, and counts it in `messages.resends` (the
    recado_outbox_resends metric): Meta posts `sent` within seconds of accepting, so that much
    silence means the first attempt most likely never got through, and a duplicate is the
    lesser harm than a reply the customer never sees.
    """
    faulty = graph_api(faults={"timeout": 1.0}, timeout_hold_s=HOLD_S, send_statuses=False)
    message_id = send_and_kill(db, tenant, workers, faulty)
    faulty.stop()
    healthy = graph_api(send_statuses=False)

    workers.start(RECADO_SWEEP_AFTER_SECONDS="2")
    resent = wait_for(
        lambda: outbox_row(db, message_id)[0] == "sent", 30, "the resend", workers.logs
    )
    wait_for(lambda: no_unfinished_jobs(db), 30, "the send queue to drain", workers.logs)

    (first,) = faulty.sent()
    (second,) = healthy.sent()
    assert first.callback_data == second.callback_data == callback_data(message_id)
    # Not before the evidence wait had passed since the uncertain attempt.
    waited = second.accepted_at - first.accepted_at
    assert waited >= EVIDENCE_WAIT_S - 0.2, waited
    assert outbox_row(db, message_id) == ("sent", second.wamid, False, 2, 1)
    print(f"\nresent {waited:.1f} s after the first attempt ({resent:.1f} s after the restart)")


def test_stored_but_unapplied_statuses_are_evidence_too(db, tenant, graph_api, workers):
    # The statuses of the accepted send are stored (2xx to the provider) while no worker runs.
    # The restart comes after the evidence wait (in production: workers down for 2 minutes,
    # a deploy, an OOM loop) and the ingest queue is behind the send queue (here: its worker
    # starts last). The webhooks carrying our id are durably in inbound_events all along.
    faulty = graph_api(
        faults={"timeout": 1.0}, timeout_hold_s=HOLD_S, status_delays_ms=(300, 400, 500)
    )
    message_id = send_and_kill(db, tenant, workers, faulty)
    (orphan,) = db.execute(
        "SELECT message_id FROM dramatiq.queue WHERE queue_name = 'send' AND state = 'consumed'"
    ).fetchone()
    assert faulty.wait_for_webhooks(10), "status webhooks still pending"
    assert faulty.counts().webhooks_delivered == 3, faulty.counts()
    faulty.stop()
    healthy = graph_api(send_statuses=False)
    wait_for(
        lambda: db.execute(
            "SELECT now() - send_started_at > %s FROM messages WHERE id = %s",
            (timedelta(seconds=EVIDENCE_WAIT_S), message_id),
        ).fetchone()[0],
        10,
        "the evidence wait to pass",
    )

    workers.start("send", RECADO_SWEEP_AFTER_SECONDS="2")
    wait_for(
        lambda: db.execute(
            "SELECT state = 'done' FROM dramatiq.queue WHERE message_id = %s", (orphan,)
        ).fetchone()[0],
        20,
        "the orphaned send to re-run",
        workers.logs,
    )
    workers.start("ingest")
    wait_for(lambda: outbox_row(db, message_id)[0] == "read", 20, "the statuses", workers.logs)
    wait_for(lambda: no_unfinished_jobs(db), 20, "the queues to drain", workers.logs)
    assert healthy.sent() == [], "sent again although the provider's statuses were stored"
