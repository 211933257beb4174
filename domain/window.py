"""WhatsApp's customer-service window: free-form messages only within 24 h of the last inbound."""

from datetime import datetime, timedelta
from enum import StrEnum

CUSTOMER_SERVICE_WINDOW = timedelta(hours=24)


class WindowDecision(StrEnum):
    SEND = "send"
    # Outside the window: send the tenant's re-engagement template instead.
    USE_TEMPLATE = "use_template"
    # Outside the window and no template configured: a person must take it from here.
    NEEDS_HUMAN = "needs_human"


def inbound_at(provider_at: datetime, received_at: datetime) -> datetime:
    """When an inbound message counts as written, for the window and for ordering: the
    provider's timestamp, but never later than we received it. A sender's clock in year 9999
    would otherwise hold the window open forever and sort the message after every other."""
    return min(provider_at, received_at)


def window_decision(
    *,
    is_template: bool,
    last_inbound_at: datetime | None,
    now: datetime,
    has_reengagement_template: bool,
) -> WindowDecision:
    if is_template:
        return WindowDecision.SEND
    if last_inbound_at is not None and now - last_inbound_at < CUSTOMER_SERVICE_WINDOW:
        return WindowDecision.SEND
    return WindowDecision.USE_TEMPLATE if has_reengagement_template else WindowDecision.NEEDS_HUMAN


def window_left(last_inbound_at: datetime | None, now: datetime) -> timedelta | None:
    """How long free-form messages may still be sent; None once the window is closed."""
    if last_inbound_at is None:
        return None
    left = last_inbound_at + CUSTOMER_SERVICE_WINDOW - now
    return left if left > timedelta(0) else None
