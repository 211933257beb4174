"""Values the reply planner reads: the conversation so far, what we know of the lead, intents."""

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from enum import StrEnum


class Intent(StrEnum):
    GREETING = "greeting"
    QUESTION = "question"
    PRICE = "price"
    BOOK = "book"
    RESCHEDULE = "reschedule"
    CANCEL = "cancel"
    HUMAN = "human"
    COMPLAINT = "complaint"
    OTHER = "other"


@dataclass(frozen=True)
class ContextMessage:
    """One message as the assistant sees it: who said it, and its text (or a placeholder)."""

    id: int
    direction: str  # 'in' (the customer) or 'out' (the business: assistant or agent)
    type: str
    text: str | None
    at: datetime


@dataclass(frozen=True)
class LeadFacts:
    name: str | None
    # 'profile' (the channel's display name) or 'stated' (the customer said it).
    name_source: str | None
    email: str | None
    phone_e164: str | None
    score: int
    stage: str
    services: tuple[str, ...] = ()


@dataclass(frozen=True)
class Extraction:
    """What deterministic rules found in the customer's unanswered messages."""

    name: str | None = None
    email: str | None = None
    phone_e164: str | None = None
    # A date and/or time the customer proposed, resolved against the tenant's local `now`.
    when: datetime | None = None
    # True when only a day was named ("el martes"), False when a time was given too.
    date_only: bool = False
    when_text: str | None = None
    # Canonical names of catalogue services mentioned.
    services: tuple[str, ...] = ()

    @property
    def personal(self) -> bool:
        """Does it carry the customer's own data (never served from or stored in a cache)?"""
        return bool(self.name or self.email or self.phone_e164 or self.when)


@dataclass(frozen=True)
class AssistantTurn:
    """The model's structured answer."""

    reply: str
    intent: Intent
    confidence: float


@dataclass(frozen=True)
class Usage:
    prompt_tokens: int
    completion_tokens: int
    cost_usd: Decimal
