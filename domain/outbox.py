"""The outbox: the id every send carries (WhatsApp's biz_opaque_callback_data), and when a
send may go out without risking a second copy."""

from datetime import datetime, timedelta
from enum import StrEnum

from domain.statuses import DeliveryStatus

_PREFIX = "recado:"


def callback_data(message_id: int) -> str:
    return f"{_PREFIX}{message_id}"


def parse_callback_data(value: str | None) -> int | None:
    """Our outbound message id, or None for data we did not write."""
    if not value or not value.startswith(_PREFIX):
        return None
    digits = value.removeprefix(_PREFIX)
    return int(digits) if digits.isascii() and digits.isdigit() else None


class SendDecision(StrEnum):
    SEND = "send"
    # The provider's id is already recorded: the send happened, only its status lags.
    ALREADY_ACCEPTED = "already_accepted"
    # An earlier attempt may have been accepted: wait for a status webhook before resending.
    AWAIT_EVIDENCE = "await_evidence"
    # Evidence was awaited long enough and none came: send again (counted as a resend).
    RESEND = "resend"
    DONE = "done"


def send_decision(
    *,
    status: DeliveryStatus,
    provider_message_id: str | None,
    uncertain: bool,
    started_at: datetime | None,
    now: datetime,
    evidence_wait: timedelta,
) -> SendDecision:
    """What a send attempt does with the outbox row it locked.

    `provider_message_id`: the recorded one, or the one a stored status webhook naming this
    message gives (applied or not, it proves the provider accepted the send).
    """
    if status not in (DeliveryStatus.PENDING, DeliveryStatus.SENDING):
        return SendDecision.DONE
    if provider_message_id is not None:
        return SendDecision.ALREADY_ACCEPTED
    if status == DeliveryStatus.PENDING or not uncertain:
        return SendDecision.SEND
    if started_at is not None and now - started_at < evidence_wait:
        return SendDecision.AWAIT_EVIDENCE
    return SendDecision.RESEND
