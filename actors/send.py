"""The send step: outbox row → channel API → `sent`, at most once, paced, behind a breaker."""

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

import sentry_sdk
from dramatiq.common import current_millis, dq_name
from dramatiq.middleware import CurrentMessage
from psycopg import Connection

from actors.chain import enqueue
from actors.clients.errors import SendNotAttempted, SendOutcomeUnknown, SendRejected
from actors.delivery import attach_provider_id
from actors.middleware import DEAD_LETTER_OPTION, UNSETTLED, annotate
from actors.pacing import Pacer
from actors.runtime import Runtime, Sender, installed
from actors.steps import step
from db import broker_queue, compose, messages, outbox
from db.breakers import close_breaker, read_breaker, save_breaker
from db.clock import database_now
from db.locks import Locks
from db.outbox import OutboxMessage
from db.tenants import Tenant, tenant_by_id
from domain.breaker import BreakerPolicy, BreakerState, on_transient_failure
from domain.channels.whatsapp_send import SendErrorKind
from domain.errors import PermanentError
from domain.models import ProviderError
from domain.outbox import callback_data
from domain.send_decision import (
    OutboundContent,
    SendAction,
    SendFacts,
    SendVerdict,
    decide_send,
)
from domain.statuses import DeliveryStatus, advance

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
    typing = tenant.typed_settings().typing_indicator
    runtime.whatsapp_client(tenant).mark_read(provider_message_id, typing=typing)


# Terminal statuses of a message that never reached the customer.
UNSENT_FOR_GOOD = (DeliveryStatus.FAILED, DeliveryStatus.CANCELLED)


def unsent_reason(message_id: int, status: str) -> str:
    if status == DeliveryStatus.CANCELLED:
        return f"message {message_id} was withdrawn (a person has the conversation); nothing sent"
    return f"message {message_id} failed for good; send a new one (`recado messages send`)"


def queue_outbound(
    conn: Connection[object],
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


def queue_composed(conn: Connection[object], message: compose.ComposedMessage) -> int | None:
    """The outbox for what a person wrote in the inbox: the row and its send job in the caller's
    transaction, once per compose key; None when the key was used (nothing inserted or queued)."""
    message_id = compose.insert_composed(conn, message)
    if message_id is not None:
        enqueue(conn, [send_message.message(message_id)])
    return message_id


def _prepare(runtime: Runtime, message_id: int) -> _Plan | None:
    """Load, decide (domain.send_decision), write: all under the outbox row's lock."""
    with runtime.pool().connection() as conn:
        target = outbox.send_target(conn, message_id, callback_data(message_id))
        if target is None:
            raise PermanentError(f"outbound message {message_id} does not exist")
        tenant_id = target.tenant_id
        annotate(tenant_id=tenant_id, message_id=message_id)
        locks = Locks(conn)
        # A status webhook naming this message may be stored but not applied yet (its step is
        # behind or failed): the provider accepted the send, and it says as what.
        proven = target.stored_status_id
        if proven is not None:
            locks.provider_id(tenant_id, target.channel, proven)
        row = locks.send_row(tenant_id, message_id)
        tenant = tenant_by_id(conn, tenant_id)
        assert row is not None and tenant is not None
        annotate(conversation_id=row.conversation_id)
        facts, client = _load(runtime, conn, tenant, row, proven)
        verdict = decide_send(facts)
        plan = _write(runtime, locks, tenant, row, facts, verdict, client)
    if verdict.action == SendAction.INVALID:
        # Raised after the commit, so the failed status stays and the dead letter says why.
        raise PermanentError(f"outbound message {message_id} is invalid: {verdict.reason}")
    return plan


def _load(
    runtime: Runtime,
    conn: Connection[object],
    tenant: Tenant,
    row: OutboxMessage,
    stored_status_id: str | None,
) -> tuple[SendFacts, Sender | None]:
    settings = runtime.settings
    # Evidence for an attempt whose outcome is unknown (read before the lock: checked again).
    proven = stored_status_id if row.provider_message_id is None and row.send_uncertain else None
    try:
        client, credentials_error = runtime.whatsapp_client(tenant), None
    except ValueError as unusable:
        client, credentials_error = None, str(unusable)
    facts = SendFacts(
        content=OutboundContent(
            row.id, row.type, row.recipient, row.text, row.details, row.reply_to
        ),
        status=row.delivery_status,
        recorded_provider_id=row.provider_message_id,
        proven_provider_id=proven,
        uncertain=row.send_uncertain,
        started_at=row.send_started_at,
        # One clock for every worker process: the database's.
        now=database_now(conn),
        evidence_wait=settings.send_evidence_wait,
        conversation_status=row.conversation_status,
        last_inbound_at=row.last_inbound_at,
        sending_paused=tenant.sending_paused_at is not None,
        credentials_error=credentials_error,
        reengagement_template=tenant.typed_settings().reengagement_template,
        breaker=read_breaker(conn, tenant.id, row.channel),
        breaker_policy=_policy(runtime),
    )
    return facts, client


def _write(
    runtime: Runtime,
    locks: Locks,
    tenant: Tenant,
    row: OutboxMessage,
    facts: SendFacts,
    verdict: SendVerdict,
    client: Sender | None,
) -> _Plan | None:
    """Carry out the verdict; a plan only when the provider is to be called now."""
    conn, now = locks.conn, facts.now
    if verdict.attach_provider_id is not None:
        current = locks.message(tenant.id, row.id)
        assert current is not None
        attach_provider_id(locks, current, verdict.attach_provider_id)
    if verdict.template is not None:
        outbox.convert_to_template(conn, row.id, dict(verdict.template))
    match verdict.action:
        case SendAction.DONE:
            if row.delivery_status in UNSENT_FOR_GOOD:
                # A requeued send that finds its message failed or withdrawn did not complete.
                annotate(**{UNSETTLED: unsent_reason(row.id, row.delivery_status)})
            return None
        case SendAction.MARK_SENT:
            _mark_sent(locks, tenant.id, row.id, now)
        case SendAction.AWAIT_EVIDENCE | SendAction.AWAIT_BREAKER:
            assert verdict.wait is not None
            _defer(conn, row.id, verdict.wait)
        case SendAction.WITHDRAW:
            messages.set_delivery_status(conn, row.id, DeliveryStatus.CANCELLED, now)
            logger.info(
                "assistant reply %s withdrawn: conversation %s is %s",
                row.id,
                row.conversation_id,
                row.conversation_status,
            )
        case SendAction.PAUSED:
            raise PermanentError(
                f"sending is paused for tenant {tenant.slug}: {tenant.sending_paused_reason}"
            )
        case SendAction.UNUSABLE_CREDENTIALS:
            raise PermanentError(f"tenant {tenant.slug} cannot send: {verdict.reason}")
        case SendAction.WINDOW_CLOSED:
            outbox.flag_for_human(conn, row.conversation_id, "24-hour window closed")
            messages.set_delivery_status(conn, row.id, DeliveryStatus.FAILED, now, [WINDOW_CLOSED])
            unsent = f"message {row.id} not sent: 24-hour window closed, no template"
            annotate(**{UNSETTLED: unsent})
            logger.warning(
                "message %s not sent: window closed, conversation %s flagged for a person",
                row.id,
                row.conversation_id,
            )
        case SendAction.INVALID:
            error = ProviderError(100, "message cannot be sent as stored", None, verdict.reason)
            messages.set_delivery_status(conn, row.id, DeliveryStatus.FAILED, now, [error])
        case SendAction.SEND:
            return _claim(runtime, locks, tenant, row, now, verdict, client)
    return None


def _claim(
    runtime: Runtime,
    locks: Locks,
    tenant: Tenant,
    row: OutboxMessage,
    now: datetime,
    verdict: SendVerdict,
    client: Sender | None,
) -> _Plan | None:
    """Take a pacing slot (and the trial call, if it is this send's), then claim the row."""
    assert verdict.request is not None and client is not None
    wait = _admission(runtime, locks, tenant, row, now, trial_until=verdict.trial_until)
    if wait is not None:
        _defer(locks.conn, row.id, wait)
        return None
    if verdict.resend:
        logger.warning(
            "resending message %s: no evidence the provider accepted attempt %s within %s",
            row.id,
            row.send_attempts,
            runtime.settings.send_evidence_wait,
        )
    outbox.claim(locks.conn, row.id, resend=verdict.resend)
    return _Plan(row.id, tenant, row.channel, verdict.request, client)


def _admission(
    runtime: Runtime,
    locks: Locks,
    tenant: Tenant,
    row: OutboxMessage,
    now: datetime,
    *,
    trial_until: datetime | None = None,
) -> timedelta | None:
    """None when the call may go now; else how long until pacing (or the trial) allows it.
    Both are atomic takes on shared state, so they come after the decision, as writes."""
    rates = tenant.typed_settings()
    recipient_key, number_key = pacing_keys(tenant, row.recipient)
    wait = runtime.pacer().take(
        locks.pacing(),
        [
            (recipient_key, rates.recipient_rate),
            (number_key, rates.number_rate),
        ],
    )
    if wait is not None:
        return wait
    # Cool-down over: of all the waiting sends, one makes the trial call (paced already, so
    # the trial is not held back after claiming it).
    if trial_until is not None and not locks.breaker_trial(
        tenant.id, row.channel, now, trial_until
    ):
        return _policy(runtime).cooldown
    return None


def pacing_keys(tenant: Tenant, recipient: str | None) -> tuple[str, str]:
    """The pacer's keys: the tenant's recipient (`recipient` None: the prefix of them all) and
    its business number."""
    return f"r:{tenant.id}:{recipient or ''}", f"n:{tenant.wa_phone_number_id}"


def readmit_paced(conn: Connection[object], tenant: Tenant, pacer: Pacer) -> int:
    """After the tenant's pacing changed: its sends waiting on the old rates are paced again
    from scratch, now, under the new ones (the send step re-checks each; none goes twice)."""
    recipients, number = pacing_keys(tenant, None)
    pacer.forget(conn, recipients, [number])
    parked = broker_queue.take_parked(
        conn,
        tenant_id=tenant.id,
        queue_name=dq_name(send_message.queue_name),
        actor=send_message.actor_name,
        scope="message",
        later_than_ms=current_millis(),
    )
    # The retries spent and the dead letter it came from go with it, as with a deferral.
    enqueue(
        conn,
        [
            send_message.message_with_options(
                args=tuple(stored["args"]),
                **{k: v for k, v in stored["options"].items() if k in _CARRIED},
            )
            for stored in parked
        ],
    )
    return len(parked)


def _policy(runtime: Runtime) -> BreakerPolicy:
    settings = runtime.settings
    return BreakerPolicy(settings.breaker_failure_threshold, settings.breaker_cooldown)


def _defer(conn: Connection[object], message_id: int, wait: timedelta) -> None:
    """Come back later without holding a worker thread. The retries spent so far, and the dead
    letter a requeue came from, go with it: waiting does not reset the failure budget."""
    current = CurrentMessage.get_current_message()
    carried = {k: v for k, v in current.options.items() if k in _CARRIED} if current else {}
    annotate(deferred=1)
    later = send_message.message_with_options(args=(message_id,), **carried)
    enqueue(conn, [later], delay_ms=max(1, int(wait / _MS)))


_CARRIED = ("retries", "max_retries", "min_backoff", "max_backoff", DEAD_LETTER_OPTION)


_MS = timedelta(milliseconds=1)


def _mark_sent(locks: Locks, tenant_id: int, message_id: int, at: datetime) -> None:
    current = locks.message(tenant_id, message_id)
    assert current is not None
    if advance(current.delivery_status, DeliveryStatus.SENT):
        messages.set_delivery_status(locks.conn, message_id, DeliveryStatus.SENT, at)
    outbox.clear_uncertainty(locks.conn, message_id)


def _record_acceptance(runtime: Runtime, plan: _Plan, wamid: str) -> None:
    with runtime.pool().connection() as conn:
        locks = Locks(conn)
        locks.provider_id(plan.tenant.id, plan.channel, wamid)
        current = locks.message(plan.tenant.id, plan.message_id)
        assert current is not None
        attach_provider_id(locks, current, wamid)
        _mark_sent(locks, plan.tenant.id, plan.message_id, database_now(conn))
        close_breaker(conn, plan.tenant.id, plan.channel)
    # Not the wamid: Meta's encode the recipient's number.
    logger.info("sent message %s", plan.message_id)


def _record_failure(
    runtime: Runtime, plan: _Plan, *, uncertain: bool, error: ProviderError | None
) -> None:
    policy = _policy(runtime)
    with runtime.pool().connection() as conn:
        locks = Locks(conn)
        if not uncertain:
            locks.message(plan.tenant.id, plan.message_id)
            outbox.record_rejection(conn, plan.message_id, error)
        breaker = locks.breaker(plan.tenant.id, plan.channel)
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
        current = Locks(conn).message(plan.tenant.id, plan.message_id)
        assert current is not None
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
        # An earlier attempt may have been accepted after all and already be delivered.
        if advance(current.delivery_status, DeliveryStatus.FAILED):
            messages.set_delivery_status(
                conn, plan.message_id, DeliveryStatus.FAILED, database_now(conn), errors
            )
