"""The outbound delivery state machine: statuses only move forward."""

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


# Forward order of the happy path. Skipping ahead is allowed because provider
# webhooks arrive out of order (a 'read' may come before its 'delivered').
_RANK: dict[DeliveryStatus, int] = {
    DeliveryStatus.PENDING: 0,
    DeliveryStatus.SENDING: 1,
    DeliveryStatus.SENT: 2,
    DeliveryStatus.DELIVERED: 3,
    DeliveryStatus.READ: 4,
}
_TERMINAL = frozenset({DeliveryStatus.READ, DeliveryStatus.FAILED})
# A withdrawn send whose earlier attempt may have reached the provider: evidence that it did
# (a status webhook) is the truth, and is recorded.
_AFTER_CANCELLED = frozenset(
    {DeliveryStatus.SENT, DeliveryStatus.DELIVERED, DeliveryStatus.READ, DeliveryStatus.FAILED}
)


def advance(current: DeliveryStatus, new: DeliveryStatus) -> bool:
    """True when moving from `current` to `new` is progress worth recording."""
    if current in _TERMINAL or new == current:
        return False
    if current == DeliveryStatus.CANCELLED:
        return new in _AFTER_CANCELLED
    if new == DeliveryStatus.FAILED:
        return True
    if new == DeliveryStatus.CANCELLED:
        return current in (DeliveryStatus.PENDING, DeliveryStatus.SENDING)
    return _RANK[new] > _RANK[current]
