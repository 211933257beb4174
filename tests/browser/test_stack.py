"""The browser tests' stack delivers: a reply queued as the composer queues it reaches the Graph
API simulator through the real worker, and its statuses come back through the served webhook."""

from ops.simulators.graph_api import GraphApiSimulator
from tests.actors.test_send_message import conversation, queue_text, status, wait_for


def test_a_reply_reaches_the_simulator_and_its_statuses_come_back(
    db, tenant, graph_api: GraphApiSimulator, worker
) -> None:
    message_id = queue_text(db, tenant, conversation(db, tenant), "Le esperamos a las 5")
    wait_for(lambda: status(db, message_id) == "read", timeout=20)
    (sent,) = graph_api.sent()
    assert (sent.to, sent.request["text"]["body"]) == ("16505551234", "Le esperamos a las 5")
