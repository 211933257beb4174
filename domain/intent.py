"""What a customer wants, by keyword rules in Spanish and English.

A deterministic first guess: it works when the model is unavailable and it decides hand-offs
before any model call. Rules run on folded text (lowercase, no accents), whole words only.
"""

import re
from collections.abc import Sequence

from domain.conversation import Intent
from domain.language import fold


def _any(*phrases: str) -> str:
    # Longest first, so that "buenas tardes" wins over "buenas".
    return "|".join(sorted(phrases, key=len, reverse=True))


_PEOPLE = _any(
    "persona",
    "personas",
    "humano",
    "humana",
    "alguien real",
    "agente",
    "asesor",
    "asesora",
    "operador",
    "operadora",
    "encargado",
    "encargada",
    "recepcionista",
    "ejecutivo",
    "ejecutiva",
    "person",
    "human",
    "human being",
    "someone real",
    "real person",
    "agent",
    "representative",
    "operator",
    "staff",
    "supervisor",
)
_HUMAN = re.compile(
    # "hablar con una persona", "talk to a human": a verb asking for contact, then a person.
    r"\b(?:hablar|hable|comunicarme|comunicar|contactar|atienda|atender|pasame|pasar|pasen|"
    r"transferir|transfiereme|talk|speak|chat|connect|transfer|put)\b[^.!?,;]{0,25}?"
    rf"\b(?:{_PEOPLE})\b(?!\s+resources)"
    # A word that alone asks for one: "agente", "asesor", "representative".
    r"|\b(?:humano|humana|agente|asesor|asesora|operador|operadora|persona real|alguien real|"
    r"real person|live agent|human being|representative|operator|agent)\b"
    r"|\bhuman\b(?!\s+resources)"
)
# "no quiero hablar con un humano": a refusal just before the request cancels it.
_NEGATIONS = frozenset({"no", "nunca", "ni", "sin", "not", "never", "don't", "dont", "without"})
_NEGATION_REACH = 3
_COMPLAINT = re.compile(
    r"\b(?:"
    + _any(
        "pesimo",
        "pesima",
        "malisimo",
        "malisima",
        "queja",
        "quejas",
        "quejarme",
        "reclamo",
        "reclamos",
        "reclamacion",
        "reclamar",
        "terrible",
        "horrible",
        "estafa",
        "mal servicio",
        "mala atencion",
        "inaceptable",
        "reembolso",
        "reembolsar",
        "complaint",
        "complain",
        "awful",
        "worst",
        "unacceptable",
        "scam",
        "refund",
    )
    + r")\b"
)
_CANCEL = re.compile(r"\b(?:cancel\w*|anular|anula|anulen|anulo)\b")
_RESCHEDULE = re.compile(
    r"\b(?:reprogramar\w*|reagendar\w*|posponer\w*|aplazar\w*|reschedul\w*|postpone\w*"
    r"|(?:cambiar|cambio|cambia|mover|muevo|mueve|move|change|push)\s+"
    r"(?:(?:mi|la|el|de|my|the|our|an?)\s+)?"
    r"(?:cita|turno|reserva|hora|horario|fecha|appointment|booking|reservation)"
    r"|mover|moverla|moverlo|cambiarla|cambiarlo"
    r"|otro dia|otra hora|otra fecha|another day|another time|a different (?:day|time))\b"
)
_BOOK = re.compile(
    r"\b(?:cita|citas|agendar\w*|agenda|reservar|reserva|reservacion|turno|turnos|apartar|"
    r"book|booking|appointment|appointments|schedule|reservation)\b"
)
_PRICE = re.compile(
    r"\b(?:cuanto\s+(?:cuesta|cuestan|sale|salen|vale|valen|es|seria|cobran|cobra|costaria)"
    r"|cuesta|cuestan|precio|precios|costo|costos|tarifa|tarifas|how much|price|prices|pricing|"
    r"cost|costs|fee|fees)\b"
)
_QUESTION = re.compile(
    r"[?¿]|\b(?:horario|horarios|donde|ubicacion|ubicados|direccion|como llego|a que hora|"
    r"que dias|abren|atienden|do you|are you open|what time|where|hours|is there|address|"
    r"location)\b"
)
_GREETING = re.compile(
    r"\b(?:"
    + _any(
        "hola",
        "holi",
        "holis",
        "buenas",
        "buenos dias",
        "buen dia",
        "buenas tardes",
        "buenas noches",
        "saludos",
        "que tal",
        "como estas",
        "como esta",
        "hi",
        "hello",
        "hey",
        "hi there",
        "hello there",
        "good morning",
        "good afternoon",
        "good evening",
        "how are you",
    )
    + r")\b"
)
_WORD = re.compile(r"[\w']+")


def guess_intent(text: str) -> Intent:
    """The first matching rule in order human > complaint > cancel > reschedule > book > price >
    question > greeting; OTHER when none does. A greeting counts only when it is all there is."""
    folded = fold(text)
    greeting_only = _greeting_only(folded)
    if _asks_for_human(folded):
        return Intent.HUMAN
    for intent, pattern in (
        (Intent.COMPLAINT, _COMPLAINT),
        (Intent.CANCEL, _CANCEL),
        (Intent.RESCHEDULE, _RESCHEDULE),
        (Intent.BOOK, _BOOK),
        (Intent.PRICE, _PRICE),
    ):
        if pattern.search(folded):
            return intent
    # "hola, ¿cómo estás?" is a greeting with a question mark, not a question for the business.
    if not greeting_only and _QUESTION.search(folded):
        return Intent.QUESTION
    return Intent.GREETING if greeting_only else Intent.OTHER


def asks_for_human(text: str) -> bool:
    """Does the customer ask to talk to a person rather than the assistant?"""
    return _asks_for_human(fold(text))


def keyword_hit(text: str, keywords: Sequence[str]) -> str | None:
    """The first of the tenant's hand-off `keywords` found in `text`, as configured.

    Whole words or phrases, ignoring case and accents: "abogado" matches "ABOGADO!" but not
    "abogados" or "abogadosa".
    """
    folded = fold(text)
    for keyword in keywords:
        words = fold(keyword).split()
        body = r"\s+".join(map(re.escape, words))
        if words and re.search(rf"(?<!\w){body}(?!\w)", folded):
            return keyword
    return None


def _asks_for_human(folded: str) -> bool:
    for match in _HUMAN.finditer(folded):
        before = _WORD.findall(folded[: match.start()])[-_NEGATION_REACH:]
        if not _NEGATIONS.intersection(before):
            return True
    return False


def _greeting_only(folded: str) -> bool:
    if not _GREETING.search(folded):
        return False
    return not _WORD.search(_GREETING.sub(" ", folded))
