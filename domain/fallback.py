"""The receptionist that answers when the model cannot: from the business profile only.

It quotes only what the profile says (hours, prices, address, FAQ answers), never proposes or
confirms an appointment, and says a person will follow up whenever the customer needs more.
"""

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from domain.conversation import Extraction, Intent
from domain.profile import BusinessProfile, FaqEntry, Service, is_open
from domain.prompts import format_price, format_spans
from domain.tone import is_formal


class FallbackReason(StrEnum):
    """Why the fallback answered instead of the model (stored with the reply)."""

    NO_KEY = "no_key"
    BREAKER_OPEN = "breaker_open"
    CAP_REACHED = "cap_reached"
    LLM_ERROR = "llm_error"


def _words(text: str) -> frozenset[str]:
    """Lower-case, accent-free words; a plural 's' dropped so 'tarjetas' meets 'tarjeta'."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    folded = "".join(c for c in decomposed if not unicodedata.combining(c))
    return frozenset(_singular(w) for w in re.findall(r"[a-z0-9]+", folded))


def _singular(word: str) -> str:
    return word[:-1] if len(word) > 4 and word.endswith("s") else word


# Share of an FAQ question's words the message must contain for its answer to be given.
FAQ_MIN_SIMILARITY = 0.6

_HOURS_WORDS = _words(
    "horario horarios abren abre abierto abiertos abierta cierran cierra cerrado hora horas "
    "open opens opening close closes closing hours"
)
_PRICE_WORDS = _words(
    "precio precios costo costos cuesta cuestan cobran tarifa price prices cost costs fee"
)
_ADDRESS_WORDS = _words(
    "direccion ubicacion ubicados ubicada donde llegar address location located where"
)
# Words too common to tell one FAQ question from another.
_STOPWORDS = _words(
    "que los las del por para con una uno unos unas como tienen tiene hay son esta estan "
    "ustedes usted puedo pueden the and for you your are can does have has with what how "
    "there this that"
)

_DAYS = {
    "es": ("lunes", "martes", "miércoles", "jueves", "viernes", "sábado", "domingo"),
    "en": ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"),
}
_TEXTS = {
    "es": {
        "hours": "Nuestro horario: {hours}.",
        "range": "{first} a {last}",
        "closed_day": "cerrado",
        "open_now": "Ahora estamos abiertos.",
        "closed_now": "Ahora estamos cerrados.",
        "prices": "Nuestros precios: {prices}.",
        "on_request": "precio a consultar",
        "address": "Estamos en {address}.",
        "greeting": "¡Hola! Gracias por escribir a {name}.",
        "follow_up": "Una persona de {name} te responderá en breve.",
    },
    "en": {
        "hours": "Our opening hours: {hours}.",
        "range": "{first} to {last}",
        "closed_day": "closed",
        "open_now": "We are open now.",
        "closed_now": "We are closed right now.",
        "prices": "Our prices: {prices}.",
        "on_request": "price on request",
        "address": "We are at {address}.",
        "greeting": "Hello! Thank you for writing to {name}.",
        "follow_up": "A person from {name} will follow up shortly.",
    },
}
# What an intent that needs a person is told before the follow-up line.
_ACKNOWLEDGEMENTS = {
    "es": {
        Intent.BOOK: "Recibimos tu solicitud de cita; no podemos confirmar horarios por aquí.",
        Intent.RESCHEDULE: "Recibimos tu solicitud para cambiar tu cita.",
        Intent.CANCEL: "Recibimos tu solicitud para cancelar tu cita.",
        Intent.COMPLAINT: "Lamentamos mucho la molestia.",
    },
    "en": {
        Intent.BOOK: "We have your appointment request; we cannot confirm times here.",
        Intent.RESCHEDULE: "We have your request to change your appointment.",
        Intent.CANCEL: "We have your request to cancel your appointment.",
        Intent.COMPLAINT: "We are very sorry for the trouble.",
    },
}
# The same lines for a business that addresses its customers as "usted" (domain/tone.py).
_FORMAL_TEXTS = {"es": {"follow_up": "Una persona de {name} le responderá en breve."}}
_FORMAL_ACKNOWLEDGEMENTS = {
    "es": {
        Intent.BOOK: "Recibimos su solicitud de cita; no podemos confirmar horarios por aquí.",
        Intent.RESCHEDULE: "Recibimos su solicitud para cambiar su cita.",
        Intent.CANCEL: "Recibimos su solicitud para cancelar su cita.",
    }
}
# Requests only a person (or the booking step) may settle.
_NEEDS_PERSON = frozenset(
    {Intent.BOOK, Intent.RESCHEDULE, Intent.CANCEL, Intent.HUMAN, Intent.COMPLAINT}
)


@dataclass(frozen=True)
class ProfileAnswer:
    """What the profile says to a message, and whether a person must still follow up."""

    lines: tuple[str, ...]
    needs_person: bool


def fallback_reply(
    *,
    profile: BusinessProfile,
    text: str,
    extraction: Extraction,
    intent: Intent,
    language: str,
    local_now: datetime | None,
) -> str:
    """A short answer built from the profile; ends with a person following up when needed.

    Without `local_now` (an answer kept for later) the hours are stated without "open now".
    """
    answer = answer_from_profile(
        profile=profile,
        text=text,
        extraction=extraction,
        intent=intent,
        language=language,
        local_now=local_now,
    )
    parts = list(answer.lines)
    if not parts or answer.needs_person:
        texts = _texts(profile, language)
        if not parts and intent == Intent.GREETING:
            parts.append(texts["greeting"].format(name=profile.name))
        parts.append(texts["follow_up"].format(name=profile.name))
    return "\n".join(parts)


def answer_from_profile(
    *,
    profile: BusinessProfile,
    text: str,
    extraction: Extraction,
    intent: Intent,
    language: str,
    local_now: datetime | None,
) -> ProfileAnswer:
    """The lines the profile gives for this message (hours, prices, address, FAQ answers)."""
    lang = _language(profile, language)
    texts = _texts(profile, language)
    acknowledgements = {
        **_ACKNOWLEDGEMENTS[lang],
        **(_FORMAL_ACKNOWLEDGEMENTS.get(lang, {}) if is_formal(profile) else {}),
    }
    words = _words(text)
    parts: list[str] = []
    needs_person = intent in _NEEDS_PERSON
    acknowledgement = acknowledgements.get(intent)
    if acknowledgement:
        parts.append(acknowledgement)
    if words & _HOURS_WORDS:
        parts.append(_hours(profile, lang, local_now))
    if intent == Intent.PRICE or words & _PRICE_WORDS:
        prices, on_request = _prices(profile, extraction.services, lang)
        if prices:
            parts.append(prices)
        needs_person = needs_person or on_request or not prices
    if words & _ADDRESS_WORDS and profile.address:
        parts.append(texts["address"].format(address=profile.address))
    faq = _faq_match(profile.faq, words)
    if faq is not None:
        parts.append(faq.answer)
    return ProfileAnswer(tuple(parts), needs_person)


def _language(profile: BusinessProfile, language: str) -> str:
    return language if language in _TEXTS else profile.language


def _texts(profile: BusinessProfile, language: str) -> dict[str, str]:
    lang = _language(profile, language)
    formal = _FORMAL_TEXTS.get(lang, {}) if is_formal(profile) else {}
    return {**_TEXTS[lang], **formal}


def _hours(profile: BusinessProfile, lang: str, local_now: datetime | None) -> str:
    texts = _TEXTS[lang]
    # Consecutive days with the same spans read as one range ("lunes a viernes").
    groups: list[tuple[int, int, str]] = []
    for day in range(7):
        spans = profile.hours.get(day, ())
        shown = format_spans(spans) if spans else texts["closed_day"]
        if groups and groups[-1][2] == shown:
            groups[-1] = (groups[-1][0], day, shown)
        else:
            groups.append((day, day, shown))
    described = "; ".join(
        f"{_day_range(first, last, lang)} {shown}" for first, last, shown in groups
    )
    stated = texts["hours"].format(hours=described)
    if local_now is None:
        return stated
    state = texts["open_now"] if is_open(profile, local_now) else texts["closed_now"]
    return f"{stated} {state}"


def _day_range(first: int, last: int, lang: str) -> str:
    days = _DAYS[lang]
    if first == last:
        return days[first]
    return _TEXTS[lang]["range"].format(first=days[first], last=days[last])


def _prices(
    profile: BusinessProfile, mentioned: Sequence[str], lang: str
) -> tuple[str | None, bool]:
    """The price line (None without services) and whether some price is only on request."""
    services: list[Service] = [s for name in mentioned if (s := profile.service(name)) is not None]
    if not services:
        services = list(profile.services)
    if not services:
        return None, False
    on_request = _TEXTS[lang]["on_request"]
    listed = "; ".join(f"{s.name}, {format_price(s) or on_request}" for s in services)
    return _TEXTS[lang]["prices"].format(prices=listed), any(s.price is None for s in services)


def matching_faq(profile: BusinessProfile, text: str) -> FaqEntry | None:
    """The profile's FAQ entry the message asks, if any (its answer is the business's own)."""
    return _faq_match(profile.faq, _words(text))


def _faq_match(faq: Sequence[FaqEntry], words: frozenset[str]) -> FaqEntry | None:
    """The FAQ entry whose question's words the message covers best, above the threshold."""
    best, best_score = None, 0.0
    for entry in faq:
        question = _content_words(entry.question)
        if not question:
            continue
        shared = len(question & words)
        score = shared / len(question)
        # One shared word is not enough to recognise a question of several words.
        if shared >= min(2, len(question)) and score >= FAQ_MIN_SIMILARITY and score > best_score:
            best, best_score = entry, score
    return best


def _content_words(text: str) -> frozenset[str]:
    return frozenset(w for w in _words(text) if len(w) > 2 and w not in _STOPWORDS)
