"""Requeueing dead letters: the step runs again once per requeue, never twice for one letter."""

from collections.abc import Sequence
from dataclasses import dataclass

import dramatiq
from psycopg import Connection

from actors.chain import enqueue
from actors.middleware import DEAD_LETTER_OPTION
from db import dead_letters


@dataclass(frozen=True)
class RequeueOutcome:
    dead_letter_id: int
    # requeued | already_requeued | discarded | resolved | not_found | unknown_actor
    status: str
    message_id: str | None


def requeue(
    conn: Connection, dead_letter_ids: Sequence[int], *, requeued_by: str
) -> list[RequeueOutcome]:
    """Queue each dead step again in the caller's transaction; the caller commits."""
    broker = dramatiq.get_broker()
    outcomes = []
    for dead_letter_id in dead_letter_ids:
        current = dead_letters.get_dead_letter(conn, dead_letter_id)
        if current is None or current.actor not in broker.actors:
            # An actor renamed or removed since: the letter stays dead for a human to decide.
            status = "not_found" if current is None else "unknown_actor"
            outcomes.append(RequeueOutcome(dead_letter_id, status, None))
            continue
        letter = dead_letters.claim_for_requeue(conn, dead_letter_id)
        if letter is None:
            outcomes.append(RequeueOutcome(dead_letter_id, _NOT_DEAD[current.state], None))
            continue
        # A fresh message (retries start over) that remembers which letter it came from.
        message = broker.get_actor(letter.actor).message_with_options(
            args=tuple(letter.args), kwargs=letter.kwargs, **{DEAD_LETTER_OPTION: letter.id}
        )
        enqueue(conn, [message])
        dead_letters.record_requeue(conn, letter.id, message.message_id, requeued_by)
        outcomes.append(RequeueOutcome(dead_letter_id, "requeued", message.message_id))
    return outcomes


_NOT_DEAD = {"requeued": "already_requeued", "discarded": "discarded", "resolved": "resolved"}
