"""The one order in which a transaction takes more than one lock.

Every step that locks more than one thing takes its locks through a `Locks`, which refuses a lock
ranked before one already taken: two transactions then never wait on each other in a cycle
(PostgreSQL would abort one as a deadlock and its step would run again). The order:

1. EVENT: the inbound event a step processes (`FOR UPDATE`: its step runs once at a time).
2. PROVIDER_ID: the provider's message id (a transaction-scoped advisory lock): parking a
   status for an id, recording that id on our message, and draining what was parked for it
   happen one at a time. Before the rows: the status step learns which message is ours only
   from the id, and the send step locks its message and conversation in one statement.
3. CONVERSATION: the conversation's row: replies commit one at a time, and a hand-off waits for
   a send's claim (or the claim sees the hand-off).
4. MESSAGE: the outbound message's row: one send attempt at a time; its status moves forward.
5. PACING: the pacing keys, sorted (`db.pacing.take_slots`; Redis takes no database lock).
6. BREAKER: the circuit breaker's row.

Re-taking a provider id the transaction holds never waits, so it is allowed at any point. An
UPDATE locks its row too: a step writes a row only once the locks ranked before it are taken.
"""

from dataclasses import dataclass, field
from datetime import datetime
from enum import IntEnum

from psycopg import Connection

from db import events, messages, outbox, planning
from db.breakers import claim_trial, lock_breaker
from db.events import StoredEvent
from db.messages import OutboundMessage
from db.outbox import OutboxMessage
from db.planning import PlanningState
from domain.breaker import Breaker


class Rank(IntEnum):
    EVENT = 1
    PROVIDER_ID = 2
    CONVERSATION = 3
    MESSAGE = 4
    PACING = 5
    BREAKER = 6


class LockOrderError(RuntimeError):
    """A lock asked for after one ranked after it: a bug in the step, never retried."""


@dataclass
class Locks:
    """The locks of one transaction on `conn`, taken in `Rank` order."""

    conn: Connection[object]
    _held: Rank | None = field(default=None, init=False)
    _provider_ids: set[tuple[int, str, str]] = field(default_factory=set, init=False)

    def event(self, event_id: int) -> StoredEvent | None:
        self._take(Rank.EVENT)
        return events.event_by_id(self.conn, event_id)

    def provider_id(self, tenant_id: int, channel: str, provider_message_id: str) -> None:
        key = (tenant_id, channel, provider_message_id)
        if key in self._provider_ids:
            return
        self._take(Rank.PROVIDER_ID)
        messages.lock_provider_id(self.conn, *key)
        self._provider_ids.add(key)

    def conversation(self, conversation_id: int) -> PlanningState | None:
        self._take(Rank.CONVERSATION)
        return planning.lock_planning_state(self.conn, conversation_id)

    def send_row(self, tenant_id: int, message_id: int) -> OutboxMessage | None:
        """The outbound row with its conversation's (one statement: conversation, message)."""
        self._take(Rank.CONVERSATION)
        self._take(Rank.MESSAGE)
        return outbox.lock_for_send(self.conn, tenant_id, message_id)

    def message(self, tenant_id: int, message_id: int) -> OutboundMessage | None:
        self._take(Rank.MESSAGE)
        return messages.outbound_by_id(self.conn, tenant_id, message_id)

    def message_by_provider_id(
        self, tenant_id: int, channel: str, provider_message_id: str
    ) -> OutboundMessage | None:
        self._take(Rank.MESSAGE)
        return messages.outbound_by_provider_id(self.conn, tenant_id, channel, provider_message_id)

    def pacing(self) -> Connection[object]:
        """The connection to take pacing slots on, once the locks before them are held."""
        self._take(Rank.PACING)
        return self.conn

    def breaker(self, tenant_id: int, channel: str) -> Breaker:
        self._take(Rank.BREAKER)
        return lock_breaker(self.conn, tenant_id, channel)

    def breaker_trial(
        self, tenant_id: int, channel: str, now: datetime, trial_until: datetime
    ) -> bool:
        """Claim the trial call (`db.breakers.claim_trial`), a write that locks the breaker."""
        self._take(Rank.BREAKER)
        return claim_trial(self.conn, tenant_id, channel, now, trial_until)

    def _take(self, rank: Rank) -> None:
        if self._held is not None and rank < self._held:
            raise LockOrderError(f"{rank.name} lock asked for after {self._held.name}")
        self._held = rank
