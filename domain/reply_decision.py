"""What the planner commits for a drafted reply, decided under the conversation's row lock from
what the lock shows now and what the draft says."""

from dataclasses import dataclass

from domain.conversation import Intent
from domain.handoff import decide_handoff
from domain.intent import asks_for_human, keyword_hit
from domain.models import ConversationStatus, ReplyOutcome, ReplySource


@dataclass(frozen=True)
class CommitFacts:
    # The newest message the reply answers.
    through: int
    # The conversation as locked now.
    status: ConversationStatus
    replied_through: int
    newest_inbound: int
    low_confidence_streak: int
    # What the customer wrote, and the tenant's hand-off settings.
    text: str
    handoff_keywords: tuple[str, ...]
    threshold: float
    # The draft.
    source: ReplySource
    intent: Intent | None
    confidence: float | None
    cacheable: bool
    fallback_reason: str | None


@dataclass(frozen=True)
class CommitVerdict:
    outcome: ReplyOutcome
    # HANDOFF: why, for the agents' notification.
    handoff_reason: str | None = None
    # HANDOFF and QUEUED: the conversation is planned through `through` with this streak.
    low_confidence_streak: int | None = None
    # QUEUED: ask a person to look at a reply the assistant did not write.
    flag_reason: str | None = None
    # QUEUED: a confident model answer feeds the answer cache.
    remember_answer: bool = False
    # DUPLICATE and STALE: why nothing is sent, for the log.
    discarded: str | None = None


def decide_commit(facts: CommitFacts) -> CommitVerdict:
    if facts.replied_through >= facts.through:
        # A redelivered job, or a requeued one, whose reply another run already committed.
        return CommitVerdict(ReplyOutcome.DUPLICATE, discarded="already planned")
    if facts.status != ConversationStatus.OPEN:
        # A person took the conversation while the reply was drafted (invariant 7).
        return CommitVerdict(ReplyOutcome.STALE, discarded=f"status {facts.status}")
    if facts.newest_inbound > facts.through:
        # That message's own job answers the whole burst, this one included.
        return CommitVerdict(ReplyOutcome.STALE, discarded="a newer message arrived")
    handoff = decide_handoff(
        asked_for_human=asks_for_human(facts.text),
        keyword=keyword_hit(facts.text, facts.handoff_keywords),
        intent=facts.intent,
        confidence=facts.confidence,
        low_confidence_streak=facts.low_confidence_streak,
        threshold=facts.threshold,
    )
    if handoff.reason is not None:
        # A hand-off never feeds the answer cache.
        return CommitVerdict(
            ReplyOutcome.HANDOFF,
            handoff_reason=handoff.reason,
            low_confidence_streak=handoff.low_confidence_streak,
        )
    confident = facts.confidence is not None and facts.confidence >= facts.threshold
    fallback = facts.source == ReplySource.FALLBACK
    return CommitVerdict(
        ReplyOutcome.QUEUED,
        low_confidence_streak=handoff.low_confidence_streak,
        flag_reason=f"answered without the assistant: {facts.fallback_reason}"
        if fallback
        else None,
        remember_answer=facts.cacheable and facts.source == ReplySource.LLM and confident,
    )
