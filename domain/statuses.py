"""The outbound delivery state machine: a message settles on what its statuses prove, whatever
order they arrive in."""

from dataclasses import dataclass
from enum import StrEnum


class DeliveryStatus(StrEnum):
    PENDING = "pending"
    SENDING = "sending"
    SENT = "sent"
    DELIVERED = "delivered"
    READ = "read"
    FAILED = "failed"
    # Withdrawn before any send attempt: an assistant reply whose conversation went to a person.
    CANCELLED = "cancelled"


# What each status proves, weakest first. A message takes a status only when it proves more
# than the current one, so it ends on the strongest status received: the maximum of a set does
# not depend on the order its members arrive in, and Meta does not promise webhook order.
_RANK: dict[DeliveryStatus, int] = {
    # Ours, before the provider has said anything.
    DeliveryStatus.PENDING: 0,
    DeliveryStatus.SENDING: 1,
    # Withdrawn before any attempt; any provider status proves an earlier attempt went out.
    DeliveryStatus.CANCELLED: 2,
    # Accepted, in transit.
    DeliveryStatus.SENT: 3,
    # The provider gave up. Meta reports it after `sent`, so a late `sent` never revives it.
    DeliveryStatus.FAILED: 4,
    # On the customer's device: a `failed` for the same message, before or after (another of
    # the customer's devices, another copy of a resent message), cannot undo that.
    DeliveryStatus.DELIVERED: 5,
    DeliveryStatus.READ: 6,
}
_DELIVERED = frozenset({DeliveryStatus.DELIVERED, DeliveryStatus.READ})


def advance(current: DeliveryStatus, new: DeliveryStatus) -> bool:
    """True when `new` proves more than `current`: the message moves to it."""
    return _RANK[new] > _RANK[current]


@dataclass(frozen=True)
class StatusEffect:
    # The message moves to the new status (else only its time and errors are recorded).
    moves: bool
    # A failure nothing outranks yet: a dead letter and an alert, once.
    reports_failure: bool
    # Proof of delivery for a failed message: the failure's dead letters are settled.
    settles_failure: bool


def status_effect(current: DeliveryStatus, new: DeliveryStatus) -> StatusEffect:
    """What a provider status does to a message that is `current`."""
    moves = advance(current, new)
    return StatusEffect(
        moves=moves,
        reports_failure=moves and new == DeliveryStatus.FAILED,
        settles_failure=moves and current == DeliveryStatus.FAILED and new in _DELIVERED,
    )
