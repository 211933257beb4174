"""Which language a customer writes in (Spanish or English), and text folding for matching.

Customers type fast on a phone: accents left out, everything lowercase. Matching therefore runs
on folded text, where "Miércoles", "MIERCOLES" and "miercoles" are the same word.
"""

import re
import unicodedata
from collections.abc import Sequence

_WORD = re.compile(r"[a-z]+(?:'[a-z]+)?")
# Phone keyboards type curly apostrophes; matching treats them as the straight one.
_APOSTROPHES = frozenset("\u2018\u2019\u02bc")

# Words frequent in one language and rare in the other. Words common to both ("a", "no", "me")
# are left out: they would only add noise.
_SPANISH_WORDS = """
    de la el los las que y en un una por para con es mi mis quiero quisiera hola gracias cita
    cuanto cuesta como donde buenas buenos dias tardes noches necesito tengo puedo podria esta
    estoy manana hoy si pero del al lo se su sus muy bien precio hora horario favor seria soy
    llamo nombre tienen hay cuando ustedes usted tu sabado domingo lunes martes miercoles jueves
    viernes semana ayuda pasado tambien ya nada algo saludos turno agendar reservar tarde noche
"""
_ENGLISH_WORDS = """
    the is are to and of for with my i you your want need hello hi hey thanks thank please can
    could would appointment what how where when do does it this that have has book price much
    tomorrow today morning afternoon evening i'm im name there open hours like get will be was
    an in on at yes monday tuesday wednesday thursday friday saturday sunday week help any some
    just schedule cancel cost tonight next
"""
_SPANISH = frozenset(_SPANISH_WORDS.split())
_ENGLISH = frozenset(_ENGLISH_WORDS.split())
# Characters English text does not use.
_SPANISH_MARKS = frozenset("ñ¿¡áéíóú")


def fold(text: str) -> str:
    """Lowercase `text`, strip its accents and straighten apostrophes, one character per character.

    The input is taken in composed form (NFC), so positions found in `fold(text)` point at the
    same characters in `unicodedata.normalize("NFC", text)`: matches run on the folded text and
    spans are cut from the original one.
    """
    text = unicodedata.normalize("NFC", text)
    if text.isascii():
        return text.lower()
    return "".join(_fold_char(char) for char in text)


def _fold_char(char: str) -> str:
    base = "".join(
        part
        for part in unicodedata.normalize("NFD", char.lower())
        if not unicodedata.combining(part)
    )
    # A few characters lowercase or decompose into several ("ﬀ" stays, "İ" becomes "i" + dot);
    # keep one character per character so that positions stay aligned.
    if char in _APOSTROPHES:
        return "'"
    return base if len(base) == 1 else char


def detect_language(texts: Sequence[str], default: str) -> str:
    """'es' or 'en' by counting words typical of each language; no clear winner gives `default`."""
    spanish = english = 0
    for text in texts:
        spanish += sum(1 for char in text.lower() if char in _SPANISH_MARKS)
        for word in _WORD.findall(fold(text)):
            spanish += word in _SPANISH
            english += word in _ENGLISH
    if spanish > english:
        return "es"
    if english > spanish:
        return "en"
    return default
