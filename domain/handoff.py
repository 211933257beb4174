"""When the assistant steps aside for a person.

The reasons are stable strings: agents read them in notifications and they are counted.
"""

from dataclasses import dataclass

from domain.conversation import Intent

ASKED_FOR_PERSON = "customer asked for a person"
COMPLAINT = "complaint"
LOW_CONFIDENCE = "low confidence twice"
KEYWORD_PREFIX = "keyword: "

# Consecutive turns below the confidence threshold that hand the conversation off.
LOW_CONFIDENCE_TURNS = 2


@dataclass(frozen=True)
class HandoffDecision:
    # None: the assistant keeps the conversation.
    reason: str | None
    # To store on the conversation for the next turn.
    low_confidence_streak: int


def decide_handoff(
    *,
    asked_for_human: bool,
    keyword: str | None,
    intent: Intent | None,
    confidence: float | None,
    low_confidence_streak: int,
    threshold: float,
) -> HandoffDecision:
    """Hand off or not, given this turn and the streak of low-confidence turns before it.

    A turn without a confidence (no model answered) leaves the streak as it was. A hand-off
    clears the streak, so a conversation an agent gives back to the assistant starts afresh.
    """
    streak = low_confidence_streak
    if confidence is not None:
        streak = streak + 1 if confidence < threshold else 0
    if asked_for_human or intent == Intent.HUMAN:
        reason: str | None = ASKED_FOR_PERSON
    elif keyword:
        reason = f"{KEYWORD_PREFIX}{keyword}"
    elif intent == Intent.COMPLAINT:
        reason = COMPLAINT
    elif streak >= LOW_CONFIDENCE_TURNS:
        reason = LOW_CONFIDENCE
    else:
        reason = None
    return HandoffDecision(reason=reason, low_confidence_streak=0 if reason else streak)
