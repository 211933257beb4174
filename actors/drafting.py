"""Drafting a reply: from the answer cache, the LLM, or the deterministic responder.

Nothing here holds a database transaction: the planner loads what it needs first and commits
the outcome after, so a slow model never keeps a row locked.
"""

import logging
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from actors.clients.llm_errors import LLMMalformedOutput, LLMPermanent, LLMRetryable
from actors.runtime import Runtime
from db.breakers import claim_trial, close_breaker, lock_breaker, read_breaker, save_breaker
from db.llm_usage import month_usage
from db.tenants import Tenant
from domain.answer_cache import TtlClass, cache_class, normalize_question, scope_key
from domain.breaker import BreakerPolicy, BreakerState, admit, on_transient_failure
from domain.conversation import Extraction, Intent, LeadFacts
from domain.errors import RetryableError
from domain.fallback import FallbackReason, fallback_reply, matching_faq
from domain.llm_cost import cap_reached, caps_from_settings, cost_usd
from domain.models import ReplySource
from domain.profile import BusinessProfile, profile_fingerprint
from domain.prompt_budget import Fitted
from domain.prompts import PROMPT_VERSION, RESPOND_TOOL, MalformedTurn, build_chat, parse_turn
from domain.tenant_settings import TenantSettings

logger = logging.getLogger(__name__)

# The model's breaker shares the circuit_breakers table with the channels, under this name.
LLM_BREAKER = "llm"


@dataclass(frozen=True)
class Situation:
    """Everything a draft depends on, loaded by the planner in one short transaction."""

    tenant: Tenant
    settings: TenantSettings
    profile: BusinessProfile
    conversation_id: int
    through: int
    lead: LeadFacts
    # The conversation as the model is shown it, within the prompt budget: the latest earlier
    # messages in the provider's order, then `unanswered`.
    history: Fitted
    # The customer's messages this reply answers (stored after the last planned one), in the
    # provider's order, each capped at the per-message budget.
    unanswered: Fitted
    text: str
    language: str
    guessed_intent: Intent
    extraction: Extraction
    now: datetime
    local_now: datetime
    attempt: int
    last_attempt: bool


@dataclass(frozen=True)
class Draft:
    source: ReplySource
    text: str | None
    intent: Intent | None
    confidence: float | None = None
    fallback_reason: str | None = None
    cache_result: str = "skip"
    cache_question: str | None = None
    cache_scope: str | None = None
    cache_class: TtlClass | None = None
    model: str | None = None
    request: dict[str, Any] | None = field(default=None, hash=False)
    response: dict[str, Any] | None = field(default=None, hash=False)
    prompt_tokens: int = 0
    completion_tokens: int = 0
    # What of the conversation was cut to fit the prompt budget.
    prompt_messages_cut: int = 0
    prompt_chars_cut: int = 0
    latency_ms: int | None = None
    cost_usd: Decimal = Decimal(0)


def draft_reply(runtime: Runtime, situation: Situation) -> Draft:
    """The cheapest faithful answer: a cached one, else the model's, else the profile's."""
    question = normalize_question(situation.text)
    ttl_class = cache_class(
        situation.text,
        intent=situation.guessed_intent,
        extraction=situation.extraction,
        matched_faq=matching_faq(situation.profile, situation.text) is not None,
    )
    cached = _from_cache(runtime, situation, question, ttl_class)
    if cached is not None:
        return cached
    cache_result = "skip" if ttl_class is None else "miss"
    unavailable = _llm_unavailable(runtime, situation)
    if unavailable is None:
        # A cacheable answer will be served to other customers: it is asked without this
        # customer's details, history or the time of day.
        draft = _from_llm(runtime, situation, general=ttl_class is not None)
    else:
        draft = _fallback(situation, unavailable)
    if draft.source == ReplySource.LLM and ttl_class is not None:
        return replace(
            draft,
            cache_result=cache_result,
            cache_question=question,
            cache_scope=cache_scope(situation),
            cache_class=ttl_class,
        )
    return replace(draft, cache_result=cache_result)


def cache_scope(situation: Situation) -> str:
    """Profile, prompt, language and the services named: a similar-sounding question about
    another service ("precio de la limpieza" / "del blanqueamiento") can never match."""
    scope = scope_key(profile_fingerprint(situation.profile), PROMPT_VERSION, situation.language)
    return f"{scope}:{'+'.join(sorted(situation.extraction.services))}"


def _from_cache(
    runtime: Runtime, situation: Situation, question: str, ttl_class: TtlClass | None
) -> Draft | None:
    if ttl_class is None or not question:
        return None
    cache = runtime.answer_cache()
    scope = cache_scope(situation)
    hit = cache.lookup_exact(situation.tenant.id, scope, question, situation.now)
    if hit is None:
        client = runtime.llm_client()
        if client is None or not _breaker_closed(runtime, situation):
            # No embedding call to a model that is failing: the exact match was the cheap part.
            return None
        try:
            embedding = client.embed([question])[0]
        except (LLMRetryable, LLMPermanent) as error:
            # The exact match was tried; the model answers instead. Not worth a retry.
            logger.warning("embedding for the answer cache failed: %s", type(error).__name__)
            return None
        hit = cache.lookup_similar(situation.tenant.id, scope, embedding, situation.now)
    if hit is None:
        return None
    return Draft(
        source=ReplySource.CACHE,
        text=hit.answer,
        intent=situation.guessed_intent,
        cache_result=f"hit_{hit.kind}",
    )


def _llm_unavailable(runtime: Runtime, situation: Situation) -> FallbackReason | None:
    """Why the model must not be called now, or None when it may."""
    if runtime.llm_client() is None:
        return FallbackReason.NO_KEY
    tenant = situation.tenant
    settings = runtime.settings
    with runtime.pool().connection() as conn:
        tokens, usd = month_usage(conn, tenant.id, _month(situation.now))
        caps = caps_from_settings(situation.settings)
        reached = cap_reached(caps, tokens_used=tokens, usd_used=usd)
        if reached is not None:
            logger.warning("tenant %s LLM cap reached: %s", tenant.slug, reached)
            return FallbackReason.CAP_REACHED
        policy = BreakerPolicy(settings.breaker_failure_threshold, settings.breaker_cooldown)
        breaker = read_breaker(conn, tenant.id, LLM_BREAKER)
        allowed, updated = admit(breaker, situation.now, policy)
        if not allowed:
            return FallbackReason.BREAKER_OPEN
        if updated != breaker:
            assert updated.until is not None
            if not claim_trial(conn, tenant.id, LLM_BREAKER, situation.now, updated.until):
                return FallbackReason.BREAKER_OPEN
    return None


def _from_llm(runtime: Runtime, situation: Situation, *, general: bool) -> Draft:
    client = runtime.llm_client()
    assert client is not None
    # A cacheable question is short (domain/answer_cache.py): its messages fit as they are.
    shown = situation.unanswered if general else situation.history
    chat = build_chat(
        profile=situation.profile,
        lead=situation.lead,
        history=shown.messages,
        local_now=situation.local_now,
        extraction=situation.extraction,
        language=situation.language,
        general=general,
    )
    try:
        result = client.chat(chat, RESPOND_TOOL)
        turn = parse_turn(result.arguments)
    except LLMPermanent as refused:
        # Configuration (key, model, quota), not this message: loud (this log line is the
        # Sentry event), and the customer still gets an answer.
        logger.error("LLM refused the call for tenant %s: %s", situation.tenant.slug, refused)
        return _fallback(situation, FallbackReason.LLM_ERROR)
    except (LLMRetryable, MalformedTurn) as failed:
        if not isinstance(failed, (LLMMalformedOutput, MalformedTurn)):
            _record_llm_failure(runtime, situation)
        if situation.last_attempt:
            logger.error(
                "LLM failed %s times for conversation %s: answering from the profile",
                situation.attempt + 1,
                situation.conversation_id,
            )
            return _fallback(situation, FallbackReason.LLM_ERROR)
        raise RetryableError(f"LLM call failed: {type(failed).__name__}: {failed}") from None
    _record_llm_success(runtime, situation)
    cost = cost_usd(
        result.model,
        result.prompt_tokens,
        result.completion_tokens,
        input_price=runtime.settings.llm_input_price,
        output_price=runtime.settings.llm_output_price,
    )
    return Draft(
        source=ReplySource.LLM,
        text=turn.reply,
        intent=turn.intent,
        confidence=turn.confidence,
        model=result.model,
        request={"prompt_version": PROMPT_VERSION, "messages": chat, "tool": "respond"},
        response=result.response,
        prompt_tokens=result.prompt_tokens,
        completion_tokens=result.completion_tokens,
        prompt_messages_cut=shown.messages_cut,
        prompt_chars_cut=shown.chars_cut,
        latency_ms=result.latency_ms,
        cost_usd=cost,
    )


def _fallback(situation: Situation, reason: FallbackReason) -> Draft:
    text = fallback_reply(
        profile=situation.profile,
        text=situation.text,
        extraction=situation.extraction,
        intent=situation.guessed_intent,
        language=situation.language,
        local_now=situation.local_now,
    )
    return Draft(
        source=ReplySource.FALLBACK,
        text=text,
        intent=situation.guessed_intent,
        fallback_reason=reason.value,
    )


def _breaker_closed(runtime: Runtime, situation: Situation) -> bool:
    with runtime.pool().connection() as conn:
        breaker = read_breaker(conn, situation.tenant.id, LLM_BREAKER)
    return breaker.state == BreakerState.CLOSED


def _record_llm_failure(runtime: Runtime, situation: Situation) -> None:
    settings = runtime.settings
    policy = BreakerPolicy(settings.breaker_failure_threshold, settings.breaker_cooldown)
    with runtime.pool().connection() as conn:
        breaker = lock_breaker(conn, situation.tenant.id, LLM_BREAKER)
        save_breaker(
            conn,
            situation.tenant.id,
            LLM_BREAKER,
            on_transient_failure(breaker, situation.now, policy),
        )


def _record_llm_success(runtime: Runtime, situation: Situation) -> None:
    with runtime.pool().connection() as conn:
        close_breaker(conn, situation.tenant.id, LLM_BREAKER)


def _month(now: datetime) -> date:
    return date(now.year, now.month, 1)
