"""What one run of the send step does with the outbox row it locked: every exit before the
provider is called, decided from loaded facts alone.

The step loads `SendFacts` under the row lock, asks `decide_send`, writes what the verdict says,
and only then (for SEND) takes a pacing slot and calls the provider.
"""

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, TypedDict

from domain.breaker import Breaker, BreakerPolicy, BreakerState, admit
from domain.channels import whatsapp_send
from domain.models import ConversationStatus
from domain.outbox import SendDecision, callback_data, send_decision
from domain.statuses import DeliveryStatus
from domain.window import WindowDecision, window_decision

_MEDIA = ("image", "audio", "video", "document", "sticker")


@dataclass(frozen=True)
class OutboundContent:
    """What the outbox row says to send, and to whom."""

    message_id: int
    type: str
    recipient: str
    text: str | None
    details: Mapping[str, Any] = field(hash=False)
    reply_to: str | None = None


@dataclass(frozen=True)
class SendFacts:
    content: OutboundContent
    status: DeliveryStatus
    # The provider's id as recorded, and the one a stored (maybe unapplied) status webhook
    # naming this message gives: either proves the provider accepted an earlier attempt.
    recorded_provider_id: str | None
    proven_provider_id: str | None
    uncertain: bool
    started_at: datetime | None
    now: datetime
    evidence_wait: timedelta
    conversation_status: ConversationStatus
    last_inbound_at: datetime | None
    sending_paused: bool
    # Why the tenant's credentials cannot make a client, or None when they can.
    credentials_error: str | None
    reengagement_template: Mapping[str, Any] | None = field(hash=False)
    breaker: Breaker
    breaker_policy: BreakerPolicy


class SendAction(StrEnum):
    # Already sent, failed or withdrawn: nothing to do.
    DONE = "done"
    # The provider's id is known: the send happened, only its status lags.
    MARK_SENT = "mark_sent"
    # An earlier attempt may have been accepted: come back when a status webhook may have said so.
    AWAIT_EVIDENCE = "await_evidence"
    # An assistant reply whose conversation a person owns now (invariant 7): cancel it.
    WITHDRAW = "withdraw"
    # The tenant's sending is paused (a token the provider refused): fail the step loudly.
    PAUSED = "paused"
    # The tenant's credentials cannot make a client: fail the step before claiming anything.
    UNUSABLE_CREDENTIALS = "unusable_credentials"
    # Outside the 24-hour window with no re-engagement template: a person takes it.
    WINDOW_CLOSED = "window_closed"
    # The provider would refuse the message as stored whatever we do: fail it.
    INVALID = "invalid"
    # The circuit breaker is open, or another send holds its trial call: come back later.
    AWAIT_BREAKER = "await_breaker"
    # Claim the row and call the provider (after a pacing slot).
    SEND = "send"


@dataclass(frozen=True)
class SendVerdict:
    action: SendAction
    # Record this provider id first (proven by a stored status webhook).
    attach_provider_id: str | None = None
    # Convert the row to this re-engagement template first (outside the window).
    template: Mapping[str, Any] | None = field(default=None, hash=False)
    # AWAIT_*: how long until the step should run again.
    wait: timedelta | None = None
    # SEND: the provider request; `resend` when an earlier attempt may have gone out.
    request: dict[str, Any] | None = field(default=None, hash=False)
    resend: bool = False
    # SEND after a cool-down: this send makes the one trial call, given up on at this time.
    trial_until: datetime | None = None
    # INVALID: why the message cannot be sent.
    reason: str | None = None


def decide_send(facts: SendFacts) -> SendVerdict:
    """The checks in the order they protect: evidence of an earlier send first (never a second
    copy), then whether anyone may send at all, then what the provider would accept."""
    proven = facts.recorded_provider_id is None and facts.proven_provider_id is not None
    attach = facts.proven_provider_id if proven else None
    evidence = send_decision(
        status=facts.status,
        provider_message_id=facts.recorded_provider_id or facts.proven_provider_id,
        uncertain=facts.uncertain,
        started_at=facts.started_at,
        now=facts.now,
        evidence_wait=facts.evidence_wait,
    )
    if evidence == SendDecision.DONE:
        return SendVerdict(SendAction.DONE, attach)
    if evidence == SendDecision.ALREADY_ACCEPTED:
        return SendVerdict(SendAction.MARK_SENT, attach)
    if evidence == SendDecision.AWAIT_EVIDENCE:
        assert facts.started_at is not None
        wait = facts.started_at + facts.evidence_wait - facts.now
        return SendVerdict(SendAction.AWAIT_EVIDENCE, wait=wait)
    content = facts.content
    if content.details.get("author") == "assistant" and (
        facts.conversation_status != ConversationStatus.OPEN
    ):
        return SendVerdict(SendAction.WITHDRAW)
    if facts.sending_paused:
        return SendVerdict(SendAction.PAUSED)
    if facts.credentials_error is not None:
        return SendVerdict(SendAction.UNUSABLE_CREDENTIALS, reason=facts.credentials_error)
    window = window_decision(
        is_template=content.type == "template",
        last_inbound_at=facts.last_inbound_at,
        now=facts.now,
        has_reengagement_template=facts.reengagement_template is not None,
    )
    if window == WindowDecision.NEEDS_HUMAN:
        return SendVerdict(SendAction.WINDOW_CLOSED)
    template = facts.reengagement_template if window == WindowDecision.USE_TEMPLATE else None
    if template is not None:
        content = as_template(content, template)
    try:
        request = build_request(content)
    except (ValueError, KeyError) as invalid:
        return SendVerdict(SendAction.INVALID, template=template, reason=str(invalid))
    allowed, updated = admit(facts.breaker, facts.now, facts.breaker_policy)
    if not allowed:
        breaker = facts.breaker
        if breaker.state == BreakerState.OPEN and breaker.until and breaker.until > facts.now:
            wait = breaker.until - facts.now
        else:
            # A trial call is out; its answer decides within seconds, not at its deadline.
            wait = facts.breaker_policy.cooldown
        return SendVerdict(SendAction.AWAIT_BREAKER, template=template, wait=wait)
    return SendVerdict(
        SendAction.SEND,
        template=template,
        request=request,
        resend=evidence == SendDecision.RESEND,
        trial_until=updated.until if updated != facts.breaker else None,
    )


def as_template(content: OutboundContent, template: Mapping[str, Any]) -> OutboundContent:
    """The row as `outbox.convert_to_template` leaves it."""
    details = {**content.details, "template": dict(template), "converted_from": content.type}
    return replace(content, type="template", details=details)


class _Threading(TypedDict):
    """The arguments every request builder takes alike."""

    reply_to: str | None
    callback_data: str | None


def build_request(content: OutboundContent) -> dict[str, Any]:
    """The provider request for the row; ValueError or KeyError when it cannot be sent."""
    common = _Threading(reply_to=content.reply_to, callback_data=callback_data(content.message_id))
    to = content.recipient
    if content.type == "text":
        return whatsapp_send.text_request(to, content.text or "", **common)
    if content.type == "template":
        template = content.details["template"]
        return whatsapp_send.template_request(
            to, template["name"], template["language"], template.get("components"), **common
        )
    if content.type in _MEDIA:
        media = content.details["media"]
        return whatsapp_send.media_request(
            to,
            content.type,
            media_id=media.get("id"),
            link=media.get("link"),
            caption=media.get("caption"),
            filename=media.get("filename"),
            **common,
        )
    if content.type == "interactive":
        interactive = content.details["interactive"]
        if "buttons" in interactive:
            return whatsapp_send.buttons_request(
                to,
                content.text or "",
                [(b["id"], b["title"]) for b in interactive["buttons"]],
                **common,
            )
        return whatsapp_send.list_request(
            to,
            content.text or "",
            interactive["button"],
            [
                (s["title"], [(r["id"], r["title"], r.get("description")) for r in s["rows"]])
                for s in interactive["sections"]
            ],
            **common,
        )
    raise ValueError(f"type {content.type!r} cannot be sent")
