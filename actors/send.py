"""The send step: outbox row → channel API → `sent`, at most once, paced, behind a breaker."""

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

import sentry_sdk
from dramatiq.middleware import CurrentMessage
from psycopg import Connection

from actors.chain import enqueue
from actors.clients.errors import SendNotAttempted, SendOutcomeUnknown, SendRejected
from actors.delivery import attach_provider_id
from actors.middleware import DEAD_LETTER_OPTION, annotate
from actors.runtime import Runtime, Sender, installed
from actors.steps import step
from db import messages, outbox
from db.breakers import claim_trial, close_breaker, lock_breaker, read_breaker, save_breaker
from db.clock import database_now
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
    client: Sender


@step(queue_name="send", throws=(PermanentError,), **_RETRY)
def send_message(message_id: int) -> None:
    run_send(installed(), message_id)


def run_send(runtime: Runtime, message_id: int) -> None:
    plan = _prepare(runtime, message_id)
    if plan is None:
        return
    try:
        # No transaction is open here: nothing is locked while the provider answers.
        wamid = plan.client.send(plan.request)
    except SendRejected as rejected:
        _record_rejection(runtime, plan, rejected)
        raise
    except SendNotAttempted:
        _record_failure(runtime, plan, uncertain=False, error=None)
        raise
    except SendOutcomeUnknown:
        _record_failure(runtime, plan, uncertain=True, error=None)
        raise
    _record_acceptance(runtime, plan, wamid)


@step(
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
    runtime = installed()
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


def _prepare(runtime: Runtime, message_id: int) -> _Plan | None:
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
        # One clock for every worker process: the database's.
        now = database_now(conn)
        provider_id = row.provider_message_id
        if provider_id is None and row.send_uncertain:
            # A status webhook naming this message may be stored but not applied yet (its
            # step is behind or failed): the provider accepted the send, and it says as what.
            provider_id = outbox.stored_status_provider_id(conn, tenant_id, callback_data(row.id))
            if provider_id is not None:
                current = messages.outbound_by_id(conn, tenant_id, message_id)
                assert current is not None
                attach_provider_id(conn, current, provider_id)
        decision = send_decision(
            status=DeliveryStatus(row.delivery_status),
            provider_message_id=provider_id,
            uncertain=row.send_uncertain,
            started_at=row.send_started_at,
            now=now,
            evidence_wait=settings.send_evidence_wait,
        )
        if decision == SendDecision.DONE:
            return None
        if decision == SendDecision.ALREADY_ACCEPTED:
            _mark_sent(conn, tenant_id, message_id, now)
            return None
        if decision == SendDecision.AWAIT_EVIDENCE:
            assert row.send_started_at is not None
            _defer(conn, message_id, row.send_started_at + settings.send_evidence_wait - now)
            return None
        if row.details.get("author") == "assistant" and row.conversation_status != "open":
            # Invariant 7, checked again at the last moment: a person owns this conversation.
            messages.set_delivery_status(conn, message_id, DeliveryStatus.CANCELLED, now)
            logger.info(
                "assistant reply %s withdrawn: conversation %s is %s",
                message_id,
                row.conversation_id,
                row.conversation_status,
            )
            return None
        if tenant.sending_paused_at is not None:
            raise PermanentError(
                f"sending is paused for tenant {tenant.slug}: {tenant.sending_paused_reason}"
            )
        try:
            # Before the claim: a tenant without usable credentials must not leave a send
            # that looks as if it may have gone out.
            client = runtime.whatsapp_client(tenant)
        except ValueError as unusable:
            raise PermanentError(f"tenant {tenant.slug} cannot send: {unusable}") from None
        row = _apply_window(conn, tenant, row, now)
        if row is None:
            return None
        try:
            request = _request(row)
        except (ValueError, KeyError) as invalid:
            # Meta would refuse this message whatever we do: fail it now, loudly.
            error = ProviderError(100, "message cannot be sent as stored", None, str(invalid))
            messages.set_delivery_status(conn, message_id, DeliveryStatus.FAILED, now, [error])
            rejected = str(invalid)
        else:
            wait = _admission(runtime, conn, tenant, row, now)
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
            outbox.claim(conn, message_id, resend=decision == SendDecision.RESEND)
            return _Plan(message_id, tenant, row.channel, request, client)
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
    runtime: Runtime, conn: Connection, tenant: Tenant, row: OutboxMessage, now: datetime
) -> timedelta | None:
    """None when the call may go now; else how long until the breaker or pacing allows it."""
    settings = runtime.settings
    policy = BreakerPolicy(settings.breaker_failure_threshold, settings.breaker_cooldown)
    breaker = read_breaker(conn, tenant.id, row.channel)
    allowed, updated = admit(breaker, now, policy)
    if not allowed:
        if breaker.state == BreakerState.OPEN and breaker.until and breaker.until > now:
            return breaker.until - now
        # A trial call is out; its answer decides within seconds, not at its deadline.
        return policy.cooldown
    wait = runtime.pacer().take(
        conn,
        [
            (f"r:{tenant.id}:{row.recipient}", _rate(tenant, "recipient", RECIPIENT_RATE)),
            (f"n:{tenant.wa_phone_number_id}", _rate(tenant, "number", NUMBER_RATE)),
        ],
    )
    if wait is not None:
        return wait
    if updated != breaker:
        assert updated.until is not None
        # Cool-down over: of all the waiting sends, one makes the trial call (paced already,
        # so the trial is not held back after claiming it).
        if not claim_trial(conn, tenant.id, row.channel, now, updated.until):
            return policy.cooldown
    return None


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
    """Come back later without holding a worker thread. The retries spent so far, and the dead
    letter a requeue came from, go with it: waiting does not reset the failure budget."""
    current = CurrentMessage.get_current_message()
    carried = {k: v for k, v in current.options.items() if k in _CARRIED} if current else {}
    annotate(deferred=1)
    later = send_message.message_with_options(args=(message_id,), **carried)
    enqueue(conn, [later], delay_ms=max(1, int(wait / _MS)))


_CARRIED = ("retries", "max_retries", "min_backoff", "max_backoff", DEAD_LETTER_OPTION)


_MS = timedelta(milliseconds=1)


def _mark_sent(conn: Connection, tenant_id: int, message_id: int, at: datetime) -> None:
    current = messages.outbound_by_id(conn, tenant_id, message_id)
    assert current is not None
    if advance(DeliveryStatus(current.delivery_status), DeliveryStatus.SENT):
        messages.set_delivery_status(conn, message_id, DeliveryStatus.SENT, at)
    outbox.clear_uncertainty(conn, message_id)


def _record_acceptance(runtime: Runtime, plan: _Plan, wamid: str) -> None:
    with runtime.pool().connection() as conn:
        # Same lock order as the status step (provider id, then row): no deadlock with a
        # status webhook for this send applied at the same moment.
        messages.lock_provider_id(conn, plan.tenant.id, plan.channel, wamid)
        current = messages.outbound_by_id(conn, plan.tenant.id, plan.message_id)
        assert current is not None
        attach_provider_id(conn, current, wamid)
        _mark_sent(conn, plan.tenant.id, plan.message_id, database_now(conn))
        close_breaker(conn, plan.tenant.id, plan.channel)
    # Not the wamid: Meta's encode the recipient's number.
    logger.info("sent message %s", plan.message_id)


def _record_failure(
    runtime: Runtime, plan: _Plan, *, uncertain: bool, error: ProviderError | None
) -> None:
    settings = runtime.settings
    policy = BreakerPolicy(settings.breaker_failure_threshold, settings.breaker_cooldown)
    with runtime.pool().connection() as conn:
        if not uncertain:
            outbox.record_rejection(conn, plan.message_id, error)
        breaker = lock_breaker(conn, plan.tenant.id, plan.channel)
        updated = on_transient_failure(breaker, database_now(conn), policy)
        save_breaker(conn, plan.tenant.id, plan.channel, updated)
    if updated.state == BreakerState.OPEN and breaker.state == BreakerState.CLOSED:
        logger.error(
            "circuit breaker opened for tenant %s on %s after %s failures: sends wait until %s",
            plan.tenant.slug,
            plan.channel,
            updated.failures,
            updated.until,
        )
        with sentry_sdk.new_scope() as scope:
            scope.set_tag("tenant_id", str(plan.tenant.id))
            sentry_sdk.capture_message(
                f"{plan.channel} sending suspended for tenant {plan.tenant.slug}", level="error"
            )


def _record_rejection(runtime: Runtime, plan: _Plan, rejected: SendRejected) -> None:
    if rejected.kind == SendErrorKind.RETRYABLE:
        _record_failure(runtime, plan, uncertain=False, error=rejected.error)
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
        current = messages.outbound_by_id(conn, plan.tenant.id, plan.message_id)
        assert current is not None
        # An earlier attempt may have been accepted after all and already be delivered.
        if advance(DeliveryStatus(current.delivery_status), DeliveryStatus.FAILED):
            messages.set_delivery_status(
                conn, plan.message_id, DeliveryStatus.FAILED, database_now(conn), errors
            )
