"""Values the reply planner reads: the conversation so far, what we know of the lead, intents."""

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any


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


def extraction_to_json(extraction: Extraction) -> dict[str, Any]:
    """The stored form (replies.extraction), read back by the lead step."""
    return {
        "name": extraction.name,
        "email": extraction.email,
        "phone_e164": extraction.phone_e164,
        "when": extraction.when.isoformat() if extraction.when else None,
        "date_only": extraction.date_only,
        "when_text": extraction.when_text,
        "services": list(extraction.services),
    }


def extraction_from_json(data: Mapping[str, Any]) -> Extraction:
    when = data.get("when")
    return Extraction(
        name=data.get("name"),
        email=data.get("email"),
        phone_e164=data.get("phone_e164"),
        when=datetime.fromisoformat(when) if when else None,
        date_only=bool(data.get("date_only", False)),
        when_text=data.get("when_text"),
        services=tuple(data.get("services", ())),
    )
