"""Requeueing dead letters: the step runs again once per requeue, never twice for one letter."""

from collections.abc import Sequence
from dataclasses import dataclass

from psycopg import Connection

from actors.chain import enqueue
from actors.middleware import DEAD_LETTER_OPTION
from actors.send import UNSENT_FOR_GOOD, unsent_reason
from actors.steps import declared
from db import dead_letters, messages
from db.outbox import pending_of_tenant, resume_tenant
from db.tenants import Tenant


@dataclass(frozen=True)
class RequeueOutcome:
    dead_letter_id: int
    # requeued | already_requeued | discarded | resolved | not_found | unknown_actor | failed
    # | pointless (the step could only find its work impossible; `detail` says why)
    status: str
    # The message queued now, or by the requeue that came first (already_requeued).
    message_id: str | None
    # Who requeued it first (already_requeued), or why it failed (failed).
    detail: str | None = None


def requeue(
    conn: Connection[object], dead_letter_ids: Sequence[int], *, requeued_by: str
) -> list[RequeueOutcome]:
    """Queue each dead step again, all in the caller's transaction; the caller commits."""
    return [requeue_one(conn, i, requeued_by=requeued_by) for i in dead_letter_ids]


def requeue_one(
    conn: Connection[object], dead_letter_id: int, *, requeued_by: str
) -> RequeueOutcome:
    """Queue one dead step again in the caller's transaction; the caller commits.

    The letter is row-locked first, so a concurrent requeue of it waits for this transaction
    and then reports it already requeued.
    """
    steps = declared()
    letter = dead_letters.lock_dead_letter(conn, dead_letter_id)
    if letter is None:
        return RequeueOutcome(dead_letter_id, "not_found", None)
    if letter.state != "dead":
        history = dead_letters.requeue_history(conn, dead_letter_id)
        message_id, first_by, _ = history[-1] if history else (None, None, None)
        return RequeueOutcome(dead_letter_id, _NOT_DEAD[letter.state], message_id, first_by)
    if letter.actor not in steps:
        # An actor renamed or removed since: the letter stays dead for a human to decide.
        return RequeueOutcome(dead_letter_id, "unknown_actor", None)
    unsent = _unsent_for_good(conn, letter)
    if unsent is not None:
        return RequeueOutcome(dead_letter_id, "pointless", None, unsent)
    # A fresh message (retries start over) that remembers which letter it came from.
    message = steps[letter.actor].message_with_options(
        args=tuple(letter.args), kwargs=letter.kwargs, **{DEAD_LETTER_OPTION: letter.id}
    )
    dead_letters.mark_requeued(conn, letter.id)
    enqueue(conn, [message])
    dead_letters.record_requeue(conn, letter.id, message.message_id, requeued_by)
    return RequeueOutcome(dead_letter_id, "requeued", message.message_id)


def _unsent_for_good(conn: Connection[object], letter: dead_letters.DeadLetter) -> str | None:
    """Why a failed send cannot be run again: its message is failed or withdrawn for good (a
    status only moves forward), so the step would do nothing and the letter is not resolved."""
    if letter.actor != "send_message" or letter.tenant_id is None or len(letter.args) != 1:
        return None
    status = messages.delivery_status_of(conn, letter.tenant_id, letter.args[0])
    return unsent_reason(letter.args[0], status) if status in UNSENT_FOR_GOOD else None


# Every state but `dead` (the table's CHECK allows no other).
_NOT_DEAD = {"requeued": "already_requeued", "discarded": "discarded", "resolved": "resolved"}


def resume_sending(conn: Connection[object], tenant: Tenant, *, requeued_by: str) -> int:
    """Resume a tenant's paused sending and requeue the sends the pause held back (failed since
    it began, and still unsent); other dead letters keep waiting for a person. In the caller's
    transaction; returns how many were requeued."""
    if tenant.sending_paused_at is None:
        return 0
    unsent = set(pending_of_tenant(conn, tenant.id))
    waiting = [
        letter.id
        for letter in dead_letters.list_dead_letters(
            conn,
            actor="send_message",
            tenant_id=tenant.id,
            since=tenant.sending_paused_at,
            limit=None,
        )
        if letter.args and letter.args[0] in unsent
    ]
    resume_tenant(conn, tenant.id)
    outcomes = requeue(conn, waiting, requeued_by=requeued_by)
    return sum(1 for o in outcomes if o.status == "requeued")
