"""Every outcome of the planner's commit, from the locked conversation and the draft alone."""

from dataclasses import replace

import pytest

from domain.conversation import Intent
from domain.models import ConversationStatus, ReplyOutcome, ReplySource
from domain.reply_decision import CommitFacts, CommitVerdict, decide_commit

FACTS = CommitFacts(
    through=10,
    status=ConversationStatus.OPEN,
    replied_through=5,
    newest_inbound=10,
    low_confidence_streak=0,
    text="¿cuánto cuesta la limpieza?",
    handoff_keywords=("abogado",),
    threshold=0.5,
    source=ReplySource.LLM,
    intent=Intent.PRICE,
    confidence=0.9,
    cacheable=True,
    fallback_reason=None,
)
QUEUED = CommitVerdict(ReplyOutcome.QUEUED, low_confidence_streak=0, remember_answer=True)


@pytest.mark.parametrize(
    ("changes", "verdict"),
    [
        ({}, QUEUED),
        # Already committed by another run: recorded as a duplicate, before anything else.
        (
            {"replied_through": 10},
            CommitVerdict(ReplyOutcome.DUPLICATE, discarded="already planned"),
        ),
        (
            {"replied_through": 12, "status": ConversationStatus.HANDOFF},
            CommitVerdict(ReplyOutcome.DUPLICATE, discarded="already planned"),
        ),
        # Made stale while it was drafted.
        (
            {"newest_inbound": 11},
            CommitVerdict(ReplyOutcome.STALE, discarded="a newer message arrived"),
        ),
        (
            {"status": ConversationStatus.HANDOFF},
            CommitVerdict(ReplyOutcome.STALE, discarded="status handoff"),
        ),
        (
            {"status": ConversationStatus.CLOSED, "newest_inbound": 11},
            CommitVerdict(ReplyOutcome.STALE, discarded="status closed"),
        ),
        # Hand-offs: they clear the streak and never feed the cache.
        (
            {"text": "quiero hablar con una persona"},
            CommitVerdict(
                ReplyOutcome.HANDOFF,
                handoff_reason="customer asked for a person",
                low_confidence_streak=0,
            ),
        ),
        (
            {"text": "necesito un ABOGADO!", "low_confidence_streak": 1},
            CommitVerdict(
                ReplyOutcome.HANDOFF, handoff_reason="keyword: abogado", low_confidence_streak=0
            ),
        ),
        (
            {"intent": Intent.COMPLAINT},
            CommitVerdict(
                ReplyOutcome.HANDOFF, handoff_reason="complaint", low_confidence_streak=0
            ),
        ),
        (
            {"confidence": 0.2, "low_confidence_streak": 1},
            CommitVerdict(
                ReplyOutcome.HANDOFF,
                handoff_reason="low confidence twice",
                low_confidence_streak=0,
            ),
        ),
        # Queued replies: the streak, the cache, the flag for a person.
        (
            {"confidence": 0.2},
            CommitVerdict(ReplyOutcome.QUEUED, low_confidence_streak=1, remember_answer=False),
        ),
        ({"cacheable": False}, replace(QUEUED, remember_answer=False)),
        ({"confidence": 0.5}, QUEUED),
        (
            {"source": ReplySource.CACHE},
            replace(QUEUED, remember_answer=False),
        ),
        (
            {
                "source": ReplySource.FALLBACK,
                "confidence": None,
                "intent": None,
                "low_confidence_streak": 1,
                "fallback_reason": "no_key",
            },
            CommitVerdict(
                ReplyOutcome.QUEUED,
                low_confidence_streak=1,
                flag_reason="answered without the assistant: no_key",
            ),
        ),
    ],
)
def test_each_outcome(changes: dict, verdict: CommitVerdict) -> None:
    assert decide_commit(replace(FACTS, **changes)) == verdict
