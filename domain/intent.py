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
    "persona real",
    "humano",
    "humana",
    "ser humano",
    "alguien",
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
    "someone",
    "somebody",
    "someone real",
    "real person",
    "real human",
    "agent",
    "live agent",
    "representative",
    "operator",
    "staff",
    "supervisor",
)
# Only a request for contact counts, never a person merely mentioned ("¿pueden atender a una
# persona de 80 años?", "my insurance agent said..."): a verb asking to talk or be served, or
# wanting one, then the person.
_HUMAN = re.compile(
    r"\b(?:"
    # "hablar con una persona", "que me atienda alguien", "talk to a human", "connect me with"
    r"(?:hablar|hable|hablo|comunicarme|comunicar|comunicame|comuniquenme|contactar|"
    r"contactarme|(?:pasame|pasarme|pasenme|pasas|pasen|pasar)\s+(?:con|a)|me\s+atiend\w*|"
    r"atenderme|atendid[oa]s?\s+por|transferir|transfiereme|transfieranme|"
    r"talk|speak|chat|connect\s+me|transfer\s+me|get\s+me|put\s+me\s+through)"
    r"\b[^.!?,;]{0,25}?"
    # "quiero un agente", "I need a real person"
    r"|(?:quiero|necesito|prefiero|quisiera|want|need)\s+(?:(?:un|una|a|an)\s+)?"
    rf")\b(?:{_PEOPLE})\b(?!\s+resources)"
)
# A message that is nothing but the person asked for: "agente", "un humano por favor".
_PEOPLE_ONLY = re.compile(
    r"(?:(?:hola|hi|hello|con|with|un|una|a|an)\s+)*"
    rf"(?:{_PEOPLE})"
    r"(?:\s+(?:por favor|porfa|please|pls|plz|ya|now|asap))*"
)
# "no quiero hablar con un humano", "I don't want to talk to a human": a refusal counts only
# when it governs the request itself, across words like these. "No, quiero hablar con una
# persona" answers an earlier question: the comma ends the refusal.
_NEGATIONS = frozenset({"no", "nunca", "ni", "sin", "not", "never", "don't", "dont", "without"})
_REQUEST_HELPERS = frozenset(
    {
        "quiero",
        "quisiera",
        "queria",
        "necesito",
        "prefiero",
        "deseo",
        "puedo",
        "puede",
        "pueden",
        "podria",
        "podrian",
        "me",
        "te",
        "nos",
        "want",
        "wanna",
        "need",
        "to",
        "like",
        "really",
    }
)
_CLAUSE_BREAK = re.compile(r"[.!?,;:]")
_COMPLAINT = re.compile(
    r"\b(?:"
    + _any(
        "queja",
        "quejas",
        "quejar",
        "quejarme",
        "reclamo",
        "reclamos",
        "reclamacion",
        "reclamaciones",
        "pesimo",
        "pesima",
        "estafa",
        "inaceptable",
        "me cobraron de mas",
        "me cobraron demas",
        "me cobraron doble",
        "complaint",
        "complaints",
        "complain",
        "complaining",
        "unacceptable",
        "scam",
        "ripped off",
        "overcharged",
        "charged me twice",
        "refund me",
    )
    # Bad words count when they judge the business, not a toothache.
    + r"|(?:mal|mala|malo|malisimo|malisima|terrible|horrible|pesimo|pesima)\s+"
    r"(?:servicio|atencion|trato|experiencia)"
    r"|(?:servicio|atencion|trato|experiencia)\s+(?:(?:es|fue|ha sido)\s+)?"
    r"(?:mal[oa]?|malisim[oa]|terrible|horrible|un desastre)"
    r"|(?:esto|eso)\s+es\s+(?:terrible|horrible|un desastre|una verguenza)"
    r"|(?:exijo|quiero|pido|solicito|necesito)\s+(?:(?:un|el|mi)\s+)?reembolso"
    r"|(?:devuelvan|devuelvanme|regresen)\s+(?:mi|el)\s+dinero"
    r"|(?:awful|terrible|horrible|worst|bad|poor|lousy|rude)\s+"
    r"(?:customer\s+)?(?:service|experience|treatment|attention|staff)"
    r"|(?:this|that|it)\s+(?:is|was|s)\s+(?:terrible|awful|horrible|a disgrace|ridiculous)"
    r"|(?:want|need|demand|like|give me)\s+(?:a|my)\s+refund"
    r")\b"
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
    if _PEOPLE_ONLY.fullmatch(" ".join(_WORD.findall(folded))):
        return True
    return any(not _refused(folded[: match.start()]) for match in _HUMAN.finditer(folded))


def _refused(before: str) -> bool:
    """Does the clause before a request end in a refusal of it ("no quiero", "don't want to")?"""
    words = _WORD.findall(_CLAUSE_BREAK.split(before)[-1])
    while words and words[-1] in _REQUEST_HELPERS:
        words.pop()
    return bool(words) and words[-1] in _NEGATIONS


def _greeting_only(folded: str) -> bool:
    if not _GREETING.search(folded):
        return False
    return not _WORD.search(_GREETING.sub(" ", folded))
