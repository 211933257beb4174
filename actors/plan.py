"""The reply planner: one reply per burst, in message order, never over a person.

Every inbound message schedules `plan_reply` after the tenant's quiet window. A job that finds a
newer message exits at once (that message's job answers the whole burst). Drafting runs without
locks; the outcome commits under the conversation's row lock, where a reply made stale by a
message that arrived meanwhile is discarded (and recorded), and `replied_through` moves forward
only. So replies are committed one at a time and in order, from any number of workers, and a
re-run after a crash finds its work done.
"""

import logging
from datetime import UTC, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from dramatiq.common import current_millis, dq_name
from dramatiq.middleware import CurrentMessage
from psycopg import Connection

from actors.chain import enqueue
from actors.drafting import Draft, Situation, draft_reply
from actors.followups import record_lead, remember_answer
from actors.middleware import annotate
from actors.runtime import Runtime, installed
from actors.send import queue_outbound
from actors.steps import step
from db import broker_queue, handoffs, planning
from db.clock import database_now
from db.llm_usage import add_usage
from db.locks import Locks
from db.replies import NewReply, insert_reply
from db.tenants import Tenant, tenant_by_id
from domain.conversation import extraction_to_json
from domain.errors import PermanentError
from domain.extraction import extract
from domain.intent import asks_for_human, guess_intent, keyword_hit
from domain.language import detect_language
from domain.models import ConversationStatus, ReplyOutcome, ReplySource
from domain.profile import ProfileError, parse_profile
from domain.prompt_budget import cap_messages, fit_conversation
from domain.prompts import PROMPT_VERSION
from domain.reply_decision import CommitFacts, decide_commit
from domain.settings import Settings
from domain.tenant_settings import TenantSettings
from domain.tone import handoff_notice

logger = logging.getLogger(__name__)

# Model calls: 4 attempts 1-15 s apart, then the deterministic responder answers. The time
# limit covers the LLM timeout plus the cache's embedding call.
MAX_RETRIES = 3
_RETRY = {"max_retries": MAX_RETRIES, "min_backoff": 1_000, "max_backoff": 15_000}
# Earlier, already answered messages shown to the model for context. The unanswered ones are
# all shown, however many: the prompt is bounded by size (domain/prompt_budget.py).
EARLIER_MESSAGES = 20


def schedule(
    conn: Connection[object], settings: TenantSettings, conversation_id: int, message_id: int
) -> None:
    """Plan a reply to `message_id` once the customer has been quiet for the window."""
    delay = timedelta(seconds=settings.quiet_window_seconds) / timedelta(milliseconds=1)
    enqueue(conn, [plan_reply.message(conversation_id, message_id)], delay_ms=int(delay))


def reschedule_parked(conn: Connection[object], tenant: Tenant) -> int:
    """After the tenant's quiet window changed: replies scheduled later than the window from now
    are scheduled again with it, so a shortened window applies to what already waits."""
    settings = tenant.typed_settings()
    window_ms = int(settings.quiet_window_seconds * 1000)
    parked = broker_queue.take_parked(
        conn,
        tenant_id=tenant.id,
        queue_name=dq_name(plan_reply.queue_name),
        actor=plan_reply.actor_name,
        scope="conversation",
        later_than_ms=current_millis() + window_ms,
    )
    for message in parked:
        conversation_id, through = message["args"]
        schedule(conn, settings, conversation_id, through)
    return len(parked)


def time_limit_ms(llm_timeout: timedelta) -> int:
    """Two model calls (the cache's embedding, the reply) and the rest of the step."""
    return int(llm_timeout.total_seconds() * 2_000) + 15_000


# Declared with the default model timeout; the process's own is set when the step is bound
# (actors/bootstrap.py).
@step(
    queue_name="assistant",
    throws=(PermanentError,),
    time_limit=time_limit_ms(Settings.llm_timeout),
    **_RETRY,
)
def plan_reply(conversation_id: int, through: int) -> None:
    run_plan(installed(), conversation_id, through)


def run_plan(runtime: Runtime, conversation_id: int, through: int) -> None:
    situation = _situation(runtime, conversation_id, through)
    if situation is None:
        return
    _commit(runtime, situation, _draft(runtime, situation))


def _draft(runtime: Runtime, situation: Situation) -> Draft:
    """A customer asking for a person never waits for the model."""
    keywords = situation.settings.handoff_keywords
    if asks_for_human(situation.text) or keyword_hit(situation.text, keywords):
        return Draft(source=ReplySource.RULE, text=None, intent=situation.guessed_intent)
    return draft_reply(runtime, situation)


def _situation(runtime: Runtime, conversation_id: int, through: int) -> Situation | None:
    """What the draft needs, or None when there is nothing to plan."""
    with runtime.pool().connection() as conn:
        state = planning.planning_state(conn, conversation_id)
        if state is None:
            raise PermanentError(f"conversation {conversation_id} does not exist")
        annotate(tenant_id=state.tenant_id, conversation_id=conversation_id, message_id=through)
        if state.replied_through >= through or state.status != ConversationStatus.OPEN:
            return None
        if state.newest_inbound > through:
            # Debounce: the newer message's own job answers this one too.
            return None
        tenant = tenant_by_id(conn, state.tenant_id)
        assert tenant is not None
        if tenant.profile is None:
            return None
        settings = tenant.typed_settings()
        try:
            profile = parse_profile(tenant.profile, default_name=tenant.name)
        except ProfileError as invalid:
            raise PermanentError(
                f"tenant {tenant.slug} has an invalid profile: {invalid}"
            ) from None
        answered = state.replied_through
        answering = planning.unanswered(conn, tenant.id, conversation_id, answered, through)
        # What came before, then what this reply answers: the chat ends with the customer.
        history = [
            *planning.history(
                conn, tenant.id, conversation_id, answered, through, EARLIER_MESSAGES
            ),
            *answering,
        ]
        found = planning.lead_facts(conn, tenant.id, state.contact_id)
        assert found is not None
        now = database_now(conn).astimezone(UTC)
    budget = runtime.settings.prompt_budget
    # The local rules read every unanswered message, each capped as it is for the model: that
    # keeps their time bounded (uncapped, extraction alone takes 1-2 s per MiB) whatever a
    # customer pastes.
    capped = cap_messages(history, budget.message_chars)
    unanswered = cap_messages(answering, budget.message_chars)
    text = "\n".join(m.text for m in unanswered.messages if m.text)
    local_now = now.astimezone(_zone(tenant, profile.timezone))
    current = CurrentMessage.get_current_message()
    attempt = current.options.get("retries", 0) if current else 0
    return Situation(
        tenant=tenant,
        settings=settings,
        profile=profile,
        conversation_id=conversation_id,
        through=through,
        lead=found[1],
        history=fit_conversation(history, {m.id for m in unanswered.messages}, budget),
        unanswered=unanswered,
        text=text,
        # A short "ok" says nothing: the customer's earlier messages decide, then the profile.
        language=detect_language(
            [m.text for m in unanswered.messages if m.text],
            detect_language(
                [m.text for m in capped.messages if m.direction == "in" and m.text],
                profile.language,
            ),
        ),
        guessed_intent=guess_intent(text),
        extraction=extract(text, now=local_now, services=profile.services),
        now=now,
        local_now=local_now,
        attempt=attempt,
        last_attempt=attempt >= MAX_RETRIES,
    )


def _commit(runtime: Runtime, situation: Situation, draft: Draft) -> None:
    """Load the conversation under its row lock, decide (domain.reply_decision), write."""
    tenant = situation.tenant
    with runtime.pool().connection() as conn:
        state = Locks(conn).conversation(situation.conversation_id)
        assert state is not None
        verdict = decide_commit(
            CommitFacts(
                through=situation.through,
                status=state.status,
                replied_through=state.replied_through,
                newest_inbound=state.newest_inbound,
                low_confidence_streak=state.low_confidence_streak,
                text=situation.text,
                handoff_keywords=situation.settings.handoff_keywords,
                threshold=situation.settings.low_confidence_threshold,
                source=draft.source,
                intent=draft.intent,
                confidence=draft.confidence,
                cacheable=draft.cache_class is not None,
                fallback_reason=draft.fallback_reason,
            )
        )
        if draft.prompt_tokens or draft.completion_tokens:
            # Spent whatever becomes of the reply.
            add_usage(
                conn,
                tenant.id,
                situation.now.date().replace(day=1),
                prompt_tokens=draft.prompt_tokens,
                completion_tokens=draft.completion_tokens,
                cost_usd=draft.cost_usd,
            )
        if verdict.discarded is not None:
            _record(conn, situation, draft, outcome=verdict.outcome, outbound=None)
            logger.info(
                "reply to conversation %s through %s not sent (%s): %s",
                state.id,
                situation.through,
                verdict.outcome,
                verdict.discarded,
            )
            return
        if verdict.handoff_reason is not None:
            _hand_off(conn, situation, draft, verdict.handoff_reason, state.channel)
        else:
            outbound = queue_outbound(
                conn,
                tenant_id=tenant.id,
                conversation_id=state.id,
                channel=state.channel,
                type="text",
                text=draft.text,
                details={"author": "assistant"},
            )
            reply_id = _record(conn, situation, draft, outcome=verdict.outcome, outbound=outbound)
            _follow_up(conn, reply_id, remember=verdict.remember_answer)
            if verdict.flag_reason is not None:
                planning.flag_for_human(conn, state.id, verdict.flag_reason)
        assert verdict.low_confidence_streak is not None
        planning.mark_planned(conn, state.id, situation.through, verdict.low_confidence_streak)
    logger.info(
        "planned conversation %s through message %s: %s (%s)",
        situation.conversation_id,
        situation.through,
        "hand-off" if verdict.handoff_reason else "reply",
        draft.source,
    )


def _hand_off(
    conn: Connection[object], situation: Situation, draft: Draft, reason: str, channel: str
) -> None:
    """To a person: the conversation, a notification for agents, and a courtesy notice."""
    tenant = situation.tenant
    notification = handoffs.hand_off(conn, tenant.id, situation.conversation_id, reason)
    notice = None
    if notification is not None:
        template = situation.settings.handoff_message or handoff_notice(
            situation.profile, situation.language
        )
        notice = queue_outbound(
            conn,
            tenant_id=tenant.id,
            conversation_id=situation.conversation_id,
            channel=channel,
            type="text",
            text=template.format(name=situation.profile.name),
            # Not the assistant's words: a fixed notice, sent even though a person now owns
            # the conversation.
            details={"author": "handoff_notice"},
        )
        logger.warning(
            "conversation %s handed to a person (notification %s): %s",
            situation.conversation_id,
            notification,
            reason,
        )
    reply_id = _record(
        conn,
        situation,
        draft,
        outcome=ReplyOutcome.HANDOFF,
        handoff_reason=reason,
        outbound=notice,
    )
    _follow_up(conn, reply_id, remember=False)


def _follow_up(conn: Connection[object], reply_id: int, *, remember: bool) -> None:
    """Side effects that must not hold up or repeat the reply: separate steps, same commit."""
    jobs = [record_lead.message(reply_id)]
    if remember:
        jobs.append(remember_answer.message(reply_id))
    enqueue(conn, jobs)


def _record(
    conn: Connection[object],
    situation: Situation,
    draft: Draft,
    *,
    outcome: ReplyOutcome,
    outbound: int | None,
    handoff_reason: str | None = None,
) -> int:
    return insert_reply(
        conn,
        NewReply(
            tenant_id=situation.tenant.id,
            conversation_id=situation.conversation_id,
            through_message_id=situation.through,
            outcome=outcome,
            source=draft.source,
            reply_text=draft.text,
            extraction=extraction_to_json(situation.extraction),
            intent=draft.intent.value if draft.intent else None,
            confidence=draft.confidence,
            fallback_reason=draft.fallback_reason,
            cache_result=draft.cache_result,
            cache_question=draft.cache_question,
            cache_scope=draft.cache_scope,
            cache_class=draft.cache_class.value if draft.cache_class else None,
            prompt_version=PROMPT_VERSION if draft.source == ReplySource.LLM else None,
            model=draft.model,
            request=draft.request,
            response=draft.response,
            prompt_tokens=draft.prompt_tokens,
            completion_tokens=draft.completion_tokens,
            prompt_messages_cut=draft.prompt_messages_cut,
            prompt_chars_cut=draft.prompt_chars_cut,
            latency_ms=draft.latency_ms,
            cost_usd=draft.cost_usd,
            handoff_reason=handoff_reason,
            outbound_message_id=outbound,
        ),
    )


def _zone(tenant: Tenant, name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        logger.error("tenant %s: unknown time zone %r, using UTC", tenant.slug, name)
        return ZoneInfo("UTC")
