"""When the assistant steps aside for a person."""

import pytest

from domain.conversation import Intent
from domain.handoff import HandoffDecision, decide_handoff

THRESHOLD = 0.6


@pytest.mark.parametrize(
    ("asked", "keyword", "intent", "confidence", "streak", "decision"),
    [
        (False, None, Intent.QUESTION, 0.9, 0, HandoffDecision(None, 0)),
        (False, None, Intent.QUESTION, 0.6, 1, HandoffDecision(None, 0)),
        (False, None, Intent.QUESTION, 0.59, 0, HandoffDecision(None, 1)),
        (False, None, Intent.QUESTION, 0.59, 1, HandoffDecision("low confidence twice", 0)),
        (False, None, Intent.OTHER, 0.1, 5, HandoffDecision("low confidence twice", 0)),
        # A confident turn between two unsure ones resets the count.
        (False, None, Intent.PRICE, 0.95, 1, HandoffDecision(None, 0)),
        # No model turn (fallback or rule): the streak is kept.
        (False, None, None, None, 1, HandoffDecision(None, 1)),
        (False, None, Intent.QUESTION, None, 0, HandoffDecision(None, 0)),
        (True, None, None, None, 0, HandoffDecision("customer asked for a person", 0)),
        (True, None, Intent.QUESTION, 0.9, 1, HandoffDecision("customer asked for a person", 0)),
        (False, None, Intent.HUMAN, 0.9, 0, HandoffDecision("customer asked for a person", 0)),
        (False, None, Intent.HUMAN, 0.2, 1, HandoffDecision("customer asked for a person", 0)),
        (False, None, Intent.COMPLAINT, 0.9, 0, HandoffDecision("complaint", 0)),
        (False, "abogado", Intent.QUESTION, 0.9, 0, HandoffDecision("keyword: abogado", 0)),
        (False, "urgente", None, None, 1, HandoffDecision("keyword: urgente", 0)),
        # Several reasons at once: the customer's own request is named first, then the keyword.
        (
            True,
            "urgente",
            Intent.COMPLAINT,
            0.1,
            1,
            HandoffDecision("customer asked for a person", 0),
        ),
        (False, "urgente", Intent.COMPLAINT, 0.1, 1, HandoffDecision("keyword: urgente", 0)),
        (False, None, Intent.COMPLAINT, 0.1, 1, HandoffDecision("complaint", 0)),
        # An empty keyword is no keyword.
        (False, "", Intent.QUESTION, 0.9, 0, HandoffDecision(None, 0)),
    ],
)
def test_decide_handoff(
    asked: bool,
    keyword: str | None,
    intent: Intent | None,
    confidence: float | None,
    streak: int,
    decision: HandoffDecision,
):
    assert (
        decide_handoff(
            asked_for_human=asked,
            keyword=keyword,
            intent=intent,
            confidence=confidence,
            low_confidence_streak=streak,
            threshold=THRESHOLD,
        )
        == decision
    )


def test_two_unsure_turns_in_a_row_hand_off():
    streak, reasons = 0, []
    for confidence in (0.3, 0.9, 0.4, 0.5):
        decision = decide_handoff(
            asked_for_human=False,
            keyword=None,
            intent=Intent.QUESTION,
            confidence=confidence,
            low_confidence_streak=streak,
            threshold=THRESHOLD,
        )
        streak = decision.low_confidence_streak
        reasons.append(decision.reason)
    assert reasons == [None, None, None, "low confidence twice"]
