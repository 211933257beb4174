"""A dead letter is resolved only when its requeued step did its work (issue 10, section 3.5)."""

from click.testing import CliRunner

from ops.cli import main
from tests.actors.test_send_message import conversation, graph_api, queue_text, status, wait_for
from tests.conftest import count

__all__ = ["graph_api"]


def letter_state(db, letter: int) -> tuple[str, dict]:
    return db.execute("SELECT state, related FROM dead_letters WHERE id = %s", (letter,)).fetchone()


def test_requeueing_a_send_that_failed_for_good_says_so_and_leaves_it_dead(
    db, tenant, graph_api, worker
):
    graph_api(faults={"131047": 1.0})
    message_id = queue_text(db, tenant, conversation(db, tenant))
    wait_for(lambda: count(db, "dead_letters") == 1)
    (letter,) = db.execute("SELECT id FROM dead_letters").fetchone()
    assert status(db, message_id) == "failed"

    result = CliRunner().invoke(main, ["dead-letters", "requeue", str(letter)])

    assert result.exit_code == 1
    assert result.output == (
        f"{letter}: not requeued: message {message_id} failed for good; send a new one"
        " (`recado messages send`); left dead\n"
    )
    assert letter_state(db, letter)[0] == "dead"
    assert count(db, "dead_letter_requeues") == 0
    assert status(db, message_id) == "failed"


def test_a_requeued_step_that_finds_its_message_failed_does_not_resolve_the_letter(
    db, tenant, graph_api, worker
):
    from actors.chain import enqueue
    from actors.middleware import DEAD_LETTER_OPTION
    from actors.send import send_message

    graph_api(faults={"131047": 1.0})
    message_id = queue_text(db, tenant, conversation(db, tenant))
    wait_for(lambda: count(db, "dead_letters") == 1)
    (letter,) = db.execute("SELECT id FROM dead_letters").fetchone()
    # Requeued before the message failed for good (as `tenants resume` does for waiting sends):
    # the step runs and finds nothing it can send.
    with db.transaction():
        db.execute("UPDATE dead_letters SET state = 'requeued' WHERE id = %s", (letter,))
        enqueue(
            db,
            [send_message.message_with_options(args=(message_id,), **{DEAD_LETTER_OPTION: letter})],
        )

    wait_for(lambda: letter_state(db, letter)[0] != "requeued")

    state, related = letter_state(db, letter)
    assert state == "dead"
    assert related["requeue_outcome"] == (
        f"message {message_id} failed for good; send a new one (`recado messages send`)"
    )
