"""The send step: outbox row → channel API → `sent`, at most once, paced, behind a breaker."""

import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import dramatiq
from psycopg import Connection

from actors import runtime
from actors.chain import enqueue
from actors.clients.errors import SendNotAttempted, SendOutcomeUnknown, SendRejected
from actors.delivery import attach_provider_id
from actors.middleware import annotate
from db import messages, outbox
from db.breakers import claim_trial, close_breaker, lock_breaker, read_breaker, save_breaker
from db.outbox import OutboxMessage
from db.tenants import Tenant, tenant_by_id
from domain.breaker import BreakerPolicy, BreakerState, admit, on_transient_failure
from domain.channels import whatsapp_send
from domain.channels.whatsapp_send import SendErrorKind
from domain.errors import PermanentError
from domain.models import ProviderError
from domain.outbox import SendDecision, callback_data, send_decision
from domain.pacing import NUMBER_RATE, RECIPIENT_RATE, Rate
from domain.statuses import DeliveryStatus, advance
from domain.window import WindowDecision, window_decision

logger = logging.getLogger(__name__)

# Provider calls: back off from 2 s to 10 min, about 1.5 h in all; the HTTP timeouts (connect
# 3 s, read 10 s) fit well inside the time limit.
_RETRY = {"max_retries": 12, "min_backoff": 2_000, "max_backoff": 600_000, "time_limit": 60_000}
# How soon to look again when a stored status webhook is about to prove the send accepted.
STATUS_RECHECK = timedelta(seconds=2)
WINDOW_CLOSED = ProviderError(
    code=131047,
    title="24-hour window closed and no re-engagement template configured",
    message=None,
    details="handed to a person",
)


@dataclass(frozen=True)
class _Plan:
    message_id: int
    tenant: Tenant
    channel: str
    request: dict


@dramatiq.actor(queue_name="send", throws=(PermanentError,), **_RETRY)
def send_message(message_id: int) -> None:
    plan = _prepare(message_id)
    if plan is None:
        return
    client = runtime.whatsapp_client(plan.tenant)
    try:
        # No transaction is open here: nothing is locked while the provider answers.
        wamid = client.send(plan.request)
    except SendRejected as rejected:
        _record_rejection(plan, rejected)
        raise
    except SendNotAttempted:
        _record_failure(plan, uncertain=False, error=None)
        raise
    except SendOutcomeUnknown:
        _record_failure(plan, uncertain=True, error=None)
        raise
    _record_acceptance(plan, wamid)


@dramatiq.actor(
    queue_name="send",
    throws=(PermanentError,),
    max_retries=3,
    min_backoff=1_000,
    max_backoff=30_000,
    time_limit=30_000,
)
def mark_read(message_id: int) -> None:
    """Blue ticks for an inbound message; with the tenant's `typing_indicator` setting, also
    "typing…" (WhatsApp shows it up to 25 s or until the next message from the business)."""
    with runtime.pool().connection() as conn:
        found = messages.inbound_provider_id(conn, message_id)
        if found is None:
            raise PermanentError(f"inbound message {message_id} does not exist")
        tenant_id, provider_message_id = found
        annotate(tenant_id=tenant_id, message_id=message_id)
        tenant = tenant_by_id(conn, tenant_id)
        assert tenant is not None
    if tenant.sending_paused_at is not None:
        return
    typing = bool(tenant.settings.get("typing_indicator", False))
    runtime.whatsapp_client(tenant).mark_read(provider_message_id, typing=typing)


def queue_outbound(
    conn: Connection,
    *,
    tenant_id: int,
    conversation_id: int,
    channel: str,
    type: str,
    text: str | None,
    details: dict | None = None,
) -> int:
    """The outbox: the row exists, `pending`, with its send job, before any API call."""
    message_id = messages.insert_outbound(
        conn,
        tenant_id=tenant_id,
        conversation_id=conversation_id,
        channel=channel,
        type=type,
        text=text,
        details=details,
    )
    enqueue(conn, [send_message.message(message_id)])
    return message_id


def _prepare(message_id: int) -> _Plan | None:
    settings = runtime.settings
    with runtime.pool().connection() as conn:
        tenant_id = outbox.tenant_of_message(conn, message_id)
        if tenant_id is None:
            raise PermanentError(f"outbound message {message_id} does not exist")
        annotate(tenant_id=tenant_id, message_id=message_id)
        row = outbox.lock_for_send(conn, tenant_id, message_id)
        tenant = tenant_by_id(conn, tenant_id)
        assert row is not None and tenant is not None
        annotate(conversation_id=row.conversation_id)
        now = datetime.now(UTC)
        # Only an uncertain attempt needs to look for stored (unapplied) status webhooks.
        stored = row.send_uncertain and outbox.status_webhook_stored(
            conn, tenant_id, callback_data(message_id)
        )
        decision = send_decision(
            status=DeliveryStatus(row.delivery_status),
            provider_message_id=row.provider_message_id,
            uncertain=row.send_uncertain,
            started_at=row.send_started_at,
            now=now,
            evidence_wait=settings.send_evidence_wait,
            status_webhook_stored=stored,
        )
        if decision == SendDecision.DONE:
            return None
        if decision == SendDecision.ALREADY_ACCEPTED:
            _mark_sent(conn, tenant_id, message_id, now)
            return None
        if decision == SendDecision.AWAIT_STATUS:
            _defer(conn, message_id, STATUS_RECHECK)
            return None
        if decision == SendDecision.AWAIT_EVIDENCE:
            assert row.send_started_at is not None
            _defer(conn, message_id, row.send_started_at + settings.send_evidence_wait - now)
            return None
        if tenant.sending_paused_at is not None:
            raise PermanentError(
                f"sending is paused for tenant {tenant.slug}: {tenant.sending_paused_reason}"
            )
        row = _apply_window(conn, tenant, row, now)
        if row is None:
            return None
        wait = _admission(conn, tenant, row, now)
        if wait is not None:
            _defer(conn, message_id, wait)
            return None
        if decision == SendDecision.RESEND:
            logger.warning(
                "resending message %s: no evidence the provider accepted attempt %s within %s",
                message_id,
                row.send_attempts,
                settings.send_evidence_wait,
            )
        try:
            request = _request(row)
        except (ValueError, KeyError) as invalid:
            # Meta would refuse this message whatever we do: fail it now, loudly.
            error = ProviderError(100, "message cannot be sent as stored", None, str(invalid))
            messages.set_delivery_status(conn, message_id, DeliveryStatus.FAILED, now, [error])
            rejected = str(invalid)
        else:
            outbox.claim(conn, message_id, resend=decision == SendDecision.RESEND)
            return _Plan(message_id, tenant, row.channel, request)
    # Raised after the commit, so the failed status stays and the dead letter says why.
    raise PermanentError(f"outbound message {message_id} is invalid: {rejected}")


def _apply_window(
    conn: Connection, tenant: Tenant, row: OutboxMessage, now: datetime
) -> OutboxMessage | None:
    """WhatsApp refuses free-form messages 24 h after the customer last wrote."""
    template = tenant.settings.get("reengagement_template")
    decision = window_decision(
        is_template=row.type == "template",
        last_inbound_at=row.last_inbound_at,
        now=now,
        has_reengagement_template=bool(template),
    )
    if decision == WindowDecision.SEND:
        return row
    if decision == WindowDecision.USE_TEMPLATE:
        outbox.convert_to_template(conn, row.id, template)
        return outbox.lock_for_send(conn, row.tenant_id, row.id)
    outbox.flag_for_human(conn, row.conversation_id, "24-hour window closed")
    messages.set_delivery_status(conn, row.id, DeliveryStatus.FAILED, now, [WINDOW_CLOSED])
    logger.warning(
        "message %s not sent: window closed, conversation %s flagged for a person",
        row.id,
        row.conversation_id,
    )
    return None


def _admission(
    conn: Connection, tenant: Tenant, row: OutboxMessage, now: datetime
) -> timedelta | None:
    """None when the call may go now; else how long until the breaker or pacing allows it."""
    settings = runtime.settings
    policy = BreakerPolicy(settings.breaker_failure_threshold, settings.breaker_cooldown)
    breaker = read_breaker(conn, tenant.id, row.channel)
    allowed, updated = admit(breaker, now, policy)
    if allowed and updated != breaker:
        assert updated.until is not None
        # Cool-down over: of all the waiting sends, one makes the trial call.
        allowed = claim_trial(conn, tenant.id, row.channel, now, updated.until)
    if not allowed:
        if breaker.state == BreakerState.OPEN and breaker.until and breaker.until > now:
            return breaker.until - now
        # A trial call is out; its answer decides within seconds, not at its deadline.
        return policy.cooldown
    return runtime.pacer().take(
        conn,
        [
            (f"r:{tenant.id}:{row.recipient}", _rate(tenant, "recipient", RECIPIENT_RATE)),
            (f"n:{tenant.wa_phone_number_id}", _rate(tenant, "number", NUMBER_RATE)),
        ],
    )


def _rate(tenant: Tenant, which: str, default: Rate) -> Rate:
    """A tenant may lower (or, with Meta's approval, raise) its rates in its settings."""
    configured = tenant.settings.get("pacing", {}).get(which)
    if not configured:
        return default
    return Rate(per_second=float(configured["per_second"]), burst=int(configured["burst"]))


def _request(row: OutboxMessage) -> dict:
    common = {"reply_to": row.reply_to, "callback_data": callback_data(row.id)}
    if row.type == "text":
        return whatsapp_send.text_request(row.recipient, row.text or "", **common)
    if row.type == "template":
        template = row.details["template"]
        return whatsapp_send.template_request(
            row.recipient,
            template["name"],
            template["language"],
            template.get("components"),
            **common,
        )
    if row.type in ("image", "audio", "video", "document", "sticker"):
        media = row.details["media"]
        return whatsapp_send.media_request(
            row.recipient,
            row.type,
            media_id=media.get("id"),
            link=media.get("link"),
            caption=media.get("caption"),
            filename=media.get("filename"),
            **common,
        )
    if row.type == "interactive":
        interactive = row.details["interactive"]
        if "buttons" in interactive:
            return whatsapp_send.buttons_request(
                row.recipient,
                row.text or "",
                [(b["id"], b["title"]) for b in interactive["buttons"]],
                **common,
            )
        return whatsapp_send.list_request(
            row.recipient,
            row.text or "",
            interactive["button"],
            [
                (s["title"], [(r["id"], r["title"], r.get("description")) for r in s["rows"]])
                for s in interactive["sections"]
            ],
            **common,
        )
    raise ValueError(f"type {row.type!r} cannot be sent")


def _defer(conn: Connection, message_id: int, wait: timedelta) -> None:
    """Come back later without holding a worker thread and without spending a retry."""
    enqueue(conn, [send_message.message(message_id)], delay_ms=max(1, int(wait / _MS)))


_MS = timedelta(milliseconds=1)


def _mark_sent(conn: Connection, tenant_id: int, message_id: int, at: datetime) -> None:
    current = messages.outbound_by_id(conn, tenant_id, message_id)
    assert current is not None
    if advance(DeliveryStatus(current.delivery_status), DeliveryStatus.SENT):
        messages.set_delivery_status(conn, message_id, DeliveryStatus.SENT, at)
    outbox.record_rejection(conn, message_id, None)


def _record_acceptance(plan: _Plan, wamid: str) -> None:
    with runtime.pool().connection() as conn:
        current = messages.outbound_by_id(conn, plan.tenant.id, plan.message_id)
        assert current is not None
        attach_provider_id(conn, current, wamid)
        _mark_sent(conn, plan.tenant.id, plan.message_id, datetime.now(UTC))
        close_breaker(conn, plan.tenant.id, plan.channel)
    logger.info("sent message %s as %s", plan.message_id, wamid)


def _record_failure(plan: _Plan, *, uncertain: bool, error: ProviderError | None) -> None:
    settings = runtime.settings
    policy = BreakerPolicy(settings.breaker_failure_threshold, settings.breaker_cooldown)
    with runtime.pool().connection() as conn:
        if not uncertain:
            outbox.record_rejection(conn, plan.message_id, error)
        breaker = lock_breaker(conn, plan.tenant.id, plan.channel)
        save_breaker(
            conn,
            plan.tenant.id,
            plan.channel,
            on_transient_failure(breaker, datetime.now(UTC), policy),
        )


def _record_rejection(plan: _Plan, rejected: SendRejected) -> None:
    if rejected.kind == SendErrorKind.RETRYABLE:
        _record_failure(plan, uncertain=False, error=rejected.error)
        return
    with runtime.pool().connection() as conn:
        outbox.record_rejection(conn, plan.message_id, rejected.error)
        # The provider answered: it is up, whatever it thought of this message.
        close_breaker(conn, plan.tenant.id, plan.channel)
        if rejected.kind == SendErrorKind.TOKEN:
            # Not this message's fault: it stays unsent until an operator fixes the token,
            # resumes the tenant and requeues the dead letters.
            messages_paused = outbox.pause_tenant(conn, plan.tenant.id, str(rejected))
            logger.error(
                "sending paused for tenant %s (%s messages waiting): %s",
                plan.tenant.slug,
                messages_paused,
                rejected,
            )
            return
        errors = [rejected.error] if rejected.error else []
        messages.set_delivery_status(
            conn, plan.message_id, DeliveryStatus.FAILED, datetime.now(UTC), errors
        )
