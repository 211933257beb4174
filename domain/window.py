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
