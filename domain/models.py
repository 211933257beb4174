"""Channel-neutral values that the parsers produce and the actors consume."""

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from domain.statuses import DeliveryStatus

__all__ = [
    "Channel",
    "ConversationStatus",
    "DeliveryStatus",
    "Direction",
    "EnvelopeEvent",
    "EventKind",
    "InboundMessage",
    "MediaRef",
    "MessageType",
    "ProviderError",
    "ReplyOutcome",
    "ReplySource",
    "StatusUpdate",
]


class Channel(StrEnum):
    WHATSAPP = "whatsapp"
    INSTAGRAM = "instagram"
    CHATWOOT = "chatwoot"


class EventKind(StrEnum):
    MESSAGE = "message"
    STATUS = "status"
    ERROR = "error"


class MessageType(StrEnum):
    TEXT = "text"
    IMAGE = "image"
    AUDIO = "audio"
    VIDEO = "video"
    DOCUMENT = "document"
    STICKER = "sticker"
    LOCATION = "location"
    CONTACTS = "contacts"
    INTERACTIVE = "interactive"
    BUTTON = "button"
    REACTION = "reaction"
    ORDER = "order"
    SYSTEM = "system"
    UNSUPPORTED = "unsupported"


class Direction(StrEnum):
    IN = "in"
    OUT = "out"


class ConversationStatus(StrEnum):
    # The assistant answers.
    OPEN = "open"
    # A person owns the conversation: no assistant reply is sent (invariant 7).
    HANDOFF = "handoff"
    CLOSED = "closed"


class ReplyOutcome(StrEnum):
    """What became of a planned reply at its commit (`replies.outcome`)."""

    QUEUED = "queued"
    # A newer message arrived, or a person took the conversation, while it was drafted.
    STALE = "stale"
    HANDOFF = "handoff"
    # Another run already committed a reply through the same message.
    DUPLICATE = "duplicate"


class ReplySource(StrEnum):
    """Who wrote a reply (`replies.source`)."""

    LLM = "llm"
    CACHE = "cache"
    FALLBACK = "fallback"
    # A customer asked for a person: no draft was written.
    RULE = "rule"


# Dict fields are excluded from the generated __hash__ so these values stay hashable.


@dataclass(frozen=True)
class EnvelopeEvent:
    """One storable unit of a webhook body, keyed for idempotent insertion."""

    kind: EventKind
    provider_event_id: str
    phone_number_id: str
    # JSON-able; stored as-is in inbound_events.payload and re-parsed by the actor.
    item: dict[str, Any] = field(hash=False)
    # Where it stood in the webhook body: one envelope's messages keep the sender's order.
    position: int = 0


@dataclass(frozen=True)
class MediaRef:
    media_id: str
    mime_type: str | None
    sha256: str | None
    caption: str | None
    filename: str | None


@dataclass(frozen=True)
class InboundMessage:
    provider_message_id: str
    wa_id: str | None
    # Business-scoped user id (BSUID); may be the only sender id once usernames launch.
    user_id: str | None
    phone_e164: str | None
    profile_name: str | None
    type: MessageType
    # What a human (or the reply planner) would read: body, caption, button title, emoji...
    text: str | None
    media: MediaRef | None
    reply_to: str | None
    sent_at: datetime
    details: dict[str, Any] = field(hash=False)


@dataclass(frozen=True)
class ProviderError:
    code: int
    title: str
    message: str | None
    details: str | None


@dataclass(frozen=True)
class StatusUpdate:
    provider_message_id: str
    status: DeliveryStatus
    at: datetime
    recipient_id: str | None
    errors: tuple[ProviderError, ...]
    callback_data: str | None
