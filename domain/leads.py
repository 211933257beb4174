"""What a conversation teaches us about a lead: filled fields, a score, a stage.

Fields are only filled or improved, never erased: a name the customer stated replaces one taken
from their channel profile, but nothing replaces a stated name, an email or a phone.

Lead score rules (points per planned reply; the score stays within 0..100):

    what happened                                  points
    name stated, newly recorded                        +5
    email newly recorded                              +10
    phone newly recorded                               +5
    each service mentioned for the first time         +10
    a date or time proposed                           +15
    intent book                                       +25
    intent reschedule                                 +10
    intent price                                      +10
    intent question                                    +5
    intent greeting, human, other                       0
    intent complaint                                  -10
    intent cancel                                     -15

Stages follow the score, forwards only: new -> engaged (score >= 20) -> qualified (>= 50).
'customer' and 'lost' are set by an agent and never changed here.
"""

from collections.abc import Mapping, Sequence

from domain.conversation import Extraction, Intent, LeadFacts

FIELD_POINTS: Mapping[str, int] = {"name": 5, "email": 10, "phone_e164": 5}
NEW_SERVICE_POINTS = 10
PROPOSED_TIME_POINTS = 15
INTENT_POINTS: Mapping[Intent, int] = {
    Intent.BOOK: 25,
    Intent.RESCHEDULE: 10,
    Intent.PRICE: 10,
    Intent.QUESTION: 5,
    Intent.GREETING: 0,
    Intent.HUMAN: 0,
    Intent.OTHER: 0,
    Intent.COMPLAINT: -10,
    Intent.CANCEL: -15,
}
MIN_SCORE, MAX_SCORE = 0, 100

# Stages the score moves through, in order, with the score that reaches each.
STAGE_THRESHOLDS: tuple[tuple[str, int], ...] = (("new", 0), ("engaged", 20), ("qualified", 50))


def merge_lead(current: LeadFacts, extraction: Extraction) -> dict[str, object]:
    """The lead columns to change; empty when nothing new was learned."""
    changes: dict[str, object] = {}
    if extraction.name and current.name_source != "stated":
        if extraction.name != current.name:
            changes["name"] = extraction.name
        # The same name, now confirmed by the customer, is no longer replaceable.
        changes["name_source"] = "stated"
    if extraction.email and not current.email:
        changes["email"] = extraction.email
    if extraction.phone_e164 and not current.phone_e164:
        changes["phone_e164"] = extraction.phone_e164
    return changes


def score_delta(
    current: LeadFacts,
    changes: Mapping[str, object],
    new_services: Sequence[str],
    extraction: Extraction,
    intent: Intent | None,
) -> int:
    """How much the score moves, by the rules above, kept within 0..100 from current.score."""
    points = sum(value for field, value in FIELD_POINTS.items() if field in changes)
    points += NEW_SERVICE_POINTS * len(set(new_services))
    if extraction.when is not None:
        points += PROPOSED_TIME_POINTS
    if intent is not None:
        points += INTENT_POINTS[intent]
    new_score = min(MAX_SCORE, max(MIN_SCORE, current.score + points))
    return new_score - current.score


def stage_for(score: int, current_stage: str) -> str:
    """The stage a score earns, never behind the current one.

    A stage outside the ladder ('customer', 'lost': an agent's decision) is kept as it is.
    """
    ladder = [stage for stage, _ in STAGE_THRESHOLDS]
    if current_stage not in ladder:
        return current_stage
    earned = max(
        (i for i, (_, threshold) in enumerate(STAGE_THRESHOLDS) if score >= threshold), default=0
    )
    return ladder[max(earned, ladder.index(current_stage))]
