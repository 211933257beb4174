"""The answer cache's rules: which questions may be answered from a cache, for how long, and how
a cached answer is found again (the same normalised question, or a close embedding).

A cached answer is shared by every customer of a tenant, so nothing that depends on who asks
(their name, bookings, orders), on when they ask (availability, "today") or on what was said
before ("¿y eso cuánto cuesta?") is ever stored.
"""

import math
import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from domain.conversation import Extraction, Intent


class TtlClass(StrEnum):
    FAQ = "faq"
    GENERAL = "general"
    TRANSIENT = "transient"


TTL: Mapping[TtlClass, timedelta] = {
    TtlClass.FAQ: timedelta(hours=24),
    TtlClass.GENERAL: timedelta(hours=4),
    TtlClass.TRANSIENT: timedelta(minutes=30),
}
LONGEST_TTL = max(TTL.values())

MAX_QUESTION_CHARS = 300
# Greetings are cheap to answer and the model greets people by name: never shared.
_CACHEABLE_INTENTS = frozenset({Intent.QUESTION, Intent.PRICE})

# Word sequences (already folded) that carry no meaning for the answer. Longest first, so
# "buenas tardes" goes as a whole rather than leaving "tardes" behind.
_LEADING_FILLERS = tuple(
    tuple(phrase.split())
    for phrase in (
        "buenos dias",
        "buenas tardes",
        "buenas noches",
        "buen dia",
        "good morning",
        "good afternoon",
        "good evening",
        "por favor",
        "una pregunta",
        "hola",
        "buenas",
        "hi",
        "hello",
        "hey",
        "please",
        "disculpe",
        "disculpa",
        "oye",
    )
)
_TRAILING_FILLERS = tuple(
    tuple(phrase.split())
    for phrase in ("muchas gracias", "thank you", "por favor", "gracias", "please", "thanks")
)

# Availability and anything whose answer changes with the clock: never cached. "opening" is a
# free slot, but "opening hours" is an ordinary hours question.
_TIME_DEPENDENT = re.compile(
    r"\b("
    r"disponibles?|disponibilidad|hay lugar|huecos?|espacios?|turnos? libres?|cupos?|"
    r"hoy|manana|pasado manana|esta semana|proxima semana|semana que viene|este mes|"
    r"ahora|ahorita|en este momento|todavia|aun|"
    r"lunes|martes|miercoles|jueves|viernes|sabados?|domingos?|fin de semana|feriados?|"
    r"available|availability|slots?|openings?(?! (hours|times))|"
    r"today|tonight|tomorrow|this week|next week|this month|now|right now|currently|still|"
    r"mondays?|tuesdays?|wednesdays?|thursdays?|fridays?|saturdays?|sundays?|weekends?|"
    r"weekdays?|holidays?"
    r")\b"
)
# The customer's own records or circumstances: the answer would be about them.
_PERSONAL = re.compile(
    r"\b("
    r"mi|mis|mio|mia|nuestro|nuestra|nuestros|nuestras|"
    r"my|mine|our|ours|"
    r"tengo (una |un )?(cita|turno|reserva|pedido)|"
    r"reserve|pague|pedi|compre|agende|"
    r"i (have|had|made|booked|paid|ordered|bought|scheduled)|i ?m booked|"
    r"i ve (had|got|been)|i got|"
    r"me (cobraron|atendieron|llamaron|hice|hicieron|pusieron|recetaron|dieron)"
    r")\b"
)
# Words pointing back at earlier messages ("¿y eso cuánto cuesta?", "how much is it?"): the
# question alone does not say what it is about, so its answer fits no other conversation.
_ANAPHORIC = re.compile(
    r"\b("
    r"eso|esa|ese|esos|esas|esto|aquello|aquel|aquella|lo mismo|el otro|la otra|los otros|"
    r"las otras|"
    r"that|it|this|those|these|them|the others?|same one"
    r")\b"
)
# A price asked without naming a catalogue service ("¿cuánto sale?") is about whatever the
# conversation was on.
_PRICE_WORDS = re.compile(
    r"\b("
    r"precios?|cuesta|cuestan|costos?|cuanto (sale|salen|vale|valen|cobran|es|seria)|tarifas?|"
    r"how much|prices?|pricing|costs?|fees?|rates?"
    r")\b"
)
# Dates and clock times ("12/05", "10:30") are time-dependent; long digit runs (phones, ids,
# order or card numbers) are someone's data.
_DATE_OR_TIME = re.compile(r"\d{1,2}\s*[:/]\s*\d{1,2}|\d{1,2}\s*(am|pm|hs|h)\b")
_DIGIT_RUN = re.compile(r"\d[\d\s().-]*\d|\d")
_LONGEST_PLAIN_NUMBER = 4

_FAQ_TOPICS = re.compile(
    r"\b("
    r"horarios?|a que hora|abren|abre|cierran|cierra|abiertos?|atienden|"
    r"direccion|ubicacion|ubicados?|donde|como llego|estacionamiento|aparcamiento|parking|"
    r"seguros?|obras? sociales?|prepaga|formas? de pago|metodos? de pago|tarjetas?|efectivo|"
    r"transferencia|politicas?|cancelacion|reembolsos?|garantia|telefono|whatsapp|"
    r"hours|what time|open|opens|close|closes|closing|where|address|located|location|"
    r"directions|park|insurance|payment|pay|cards?|cash|polic(y|ies)|cancellation|refunds?|"
    r"warranty|phone number"
    r")\b"
)
_SERVICE_TOPICS = re.compile(
    r"\b("
    r"precios?|cuesta|cuestan|cuanto|costos?|vale|valen|tarifas?|servicios?|tratamientos?|"
    r"ofrecen|hacen|duran?|"
    r"prices?|costs?|how much|fees?|rates?|services?|treatments?|offer|do you do|how long"
    r")\b"
)


def normalize_question(text: str) -> str:
    """The question as a cache key: folded, lowercase, punctuation and greetings gone.

    A message that is only a greeting keeps its words ("hola"), so it still has a key.
    """
    words = re.sub(r"[^\w\s]|_", " ", _fold(text).lower()).split()
    stripped = _strip_fillers(words)
    return " ".join(stripped or words)


def cache_class(
    text: str, *, intent: Intent, extraction: Extraction, matched_faq: bool
) -> TtlClass | None:
    """How long an answer to `text` may be reused, or None: never cache it, never serve it."""
    if intent not in _CACHEABLE_INTENTS or extraction.personal:
        return None
    if len(text) > MAX_QUESTION_CHARS or "@" in text:
        return None
    folded = " ".join(re.sub(r"[^\w\s:/.-]|_", " ", _fold(text).lower()).split())
    if not normalize_question(text) or _carries_data(folded):
        return None
    words = " ".join(re.sub(r"[^\w\s]|_", " ", folded).split())
    if _TIME_DEPENDENT.search(words) or _PERSONAL.search(words) or _ANAPHORIC.search(words):
        return None
    asks_price = intent is Intent.PRICE or _PRICE_WORDS.search(words)
    if asks_price and not extraction.services and not matched_faq:
        return None
    if matched_faq or _FAQ_TOPICS.search(words):
        return TtlClass.FAQ
    if intent is Intent.PRICE or extraction.services or _SERVICE_TOPICS.search(words):
        return TtlClass.GENERAL
    return TtlClass.TRANSIENT


@dataclass(frozen=True)
class CacheEntry:
    question: str
    answer: str
    ttl_class: TtlClass
    embedding: tuple[float, ...] | None
    created_at: datetime
    expires_at: datetime
    hits: int


@dataclass(frozen=True)
class CacheHit:
    answer: str
    kind: str  # 'exact' or 'semantic'
    similarity: float
    ttl_class: TtlClass


@dataclass(frozen=True)
class CacheStats:
    """One tenant's entries by TTL class (live ones), those expired but not yet evicted, and
    the hits they have served."""

    tenant_id: int
    faq: int
    general: int
    transient: int
    expired: int
    hits: int

    @property
    def entries(self) -> int:
        return self.faq + self.general + self.transient


def scope_key(profile_fingerprint: str, prompt_version: str, language: str) -> str:
    """What an answer was made from: a changed profile, prompt or language never reuses it."""
    return f"{profile_fingerprint}:{prompt_version}:{language}"


def expiry(ttl_class: TtlClass, now: datetime) -> datetime:
    return now + TTL[ttl_class]


def cosine(a: Sequence[float], b: Sequence[float]) -> float:
    """Cosine similarity; 0.0 when either vector is all zeros. Raises ValueError on a length
    mismatch."""
    dot = sum(x * y for x, y in zip(a, b, strict=True))
    norms = math.sqrt(sum(x * x for x in a)) * math.sqrt(sum(y * y for y in b))
    return dot / norms if norms else 0.0


def best_similar(
    query: Sequence[float], entries: Iterable[CacheEntry], *, now: datetime, threshold: float
) -> tuple[CacheEntry, float] | None:
    """The live entry closest to `query`, if it is at least `threshold` similar.

    Entries embedded by another model (a different dimension) are skipped, not compared.
    """
    best: tuple[CacheEntry, float] | None = None
    for entry in entries:
        if entry.embedding is None or len(entry.embedding) != len(query) or entry.expires_at <= now:
            continue
        similarity = cosine(query, entry.embedding)
        if similarity >= threshold and (best is None or similarity > best[1]):
            best = (entry, similarity)
    return best


def hit_rate(results: Mapping[str, int]) -> float | None:
    """Share of cache-eligible replies (hits and misses; skips were never eligible) served from
    the cache; None when there were none."""
    hits = results.get("hit_exact", 0) + results.get("hit_semantic", 0)
    eligible = hits + results.get("miss", 0)
    return hits / eligible if eligible else None


def _fold(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def _strip_fillers(words: list[str]) -> list[str]:
    start, end = 0, len(words)
    changed = True
    while changed:
        changed = False
        for phrase in _LEADING_FILLERS:
            if tuple(words[start : start + len(phrase)]) == phrase and start + len(phrase) <= end:
                start += len(phrase)
                changed = True
                break
        for phrase in _TRAILING_FILLERS:
            if end - len(phrase) >= start and tuple(words[end - len(phrase) : end]) == phrase:
                end -= len(phrase)
                changed = True
                break
    return words[start:end]


def _carries_data(folded: str) -> bool:
    """Does the text hold a date, a clock time or a number too long to be a price?"""
    if _DATE_OR_TIME.search(folded):
        return True
    return any(
        sum(ch.isdigit() for ch in run) > _LONGEST_PLAIN_NUMBER
        for run in _DIGIT_RUN.findall(folded)
    )
