"""What a customer's own words tell us: name, email, phone, a proposed day and time, services.

Deterministic rules for Spanish and English as typed on a phone (accents left out, lowercase).
Each rule prefers missing a fact to inventing one: a wrong name or appointment time recorded for
a lead does more harm than one the model or an agent fills in later.
"""

import re
import unicodedata
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from domain.conversation import Extraction
from domain.language import detect_language, fold
from domain.profile import Service


def extract(text: str, *, now: datetime, services: Sequence[Service]) -> Extraction:
    """Everything found in `text`; `now` is tz-aware in the tenant's zone and so is `when`."""
    text = unicodedata.normalize("NFC", text)
    folded = fold(text)
    moment = _find_when(text, folded, now)
    return Extraction(
        name=_find_name(text, folded),
        email=_find_email(text),
        phone_e164=_find_phone(text, folded),
        when=moment.when if moment else None,
        date_only=moment.date_only if moment else False,
        when_text=moment.text if moment else None,
        services=_find_services(folded, services),
    )


# --- name ------------------------------------------------------------------------------------

# Phrases that can only introduce a name: any word after them that is not a common word counts.
_STATED = re.compile(r"\b(?:me llamo|mi nombre es|my name is|my name's)\s+")
# "soy" / "I'm" also introduce states and origins ("soy alérgico", "I'm interested").
_INTRODUCED = re.compile(r"\b(?:soy|i'm|im|i am)\s+")
# "this is" introduces far more things than names; only a capitalised word counts after it.
_PRESENTED = re.compile(r"\bthis is\s+")
_NAME_WORD = re.compile(r"[^\W\d_]+(?:['\u2019-][^\W\d_]+)*")
_BETWEEN_NAME_WORDS = re.compile(r"[ \t]+")
_MAX_NAME_WORDS = 3
# Lowercase words ending like this after "soy" / "I'm" are states, not names ("soy casada",
# "I'm calling"). Only long words: short names end like this too ("Ida", "Fred").
_STATE_ENDINGS = (
    ("ing", 6),
    ("mente", 6),
    ("ado", 6),
    ("ada", 6),
    ("ido", 6),
    ("ida", 6),
    ("ed", 7),
)
_COMMON_WORDS = """
    a al ante con contra de del desde en entre hacia hasta para por segun sin sobre tras el la
    los las lo un una unos unas y e o u ni que quien como cuando donde muy mas menos tan ya aun
    aqui alli ahi bien mal si no yo tu ella usted ustedes nosotros mi mis su sus tus este esta
    estos estas ese esa eso esto hoy manana ayer tarde noche temprano pasado nuevo nueva nuevos
    nuevas paciente pacientes cliente clienta clientes alergico alergica diabetico diabetica
    hipertenso hipertensa embarazada mayor menor casado casada soltero soltera viudo viuda
    estudiante dueno duena mama papa madre padre hijo hija esposo esposa novio novia hermano
    hermana tio tia abuelo abuela amigo amiga vecino vecina doctor doctora dr dra lic ing sr sra
    srta senor senora senorita don dona medico medica enfermero enfermera dentista profesor
    profesora maestro maestra socio socia miembro empleado empleada quiero queria quisiera
    necesito busco tengo tenia puedo podria puede seria sera soy es estoy era fui voy vengo llamo
    escribo hablo gracias hola buenas buenos dias saludos persona humano cita turno reserva
    consulta feliz contento contenta triste molesto molesta preocupado preocupada interesado
    interesada igual mismo misma solo sola otro otra urgente lunes martes miercoles jueves
    viernes sabado domingo
    an the and or but so of to in on at for from with by about as into like i me my you your he
    she it we they this that these those here there who what when where why how yes not very
    just really also still already only now today tonight tomorrow morning afternoon evening
    night fine good great ok okay well sorry glad happy sad sure ready available busy free
    interested looking calling writing texting trying going coming reaching wondering having back
    new old patient customer client member student allergic pregnant married single retired
    tired confused worried concerned excited out home done late early over sick ill unable able
    afraid mr mrs ms miss sir madam hi hello hey thanks thank please would can could want need
    have had am is are was were be been one two his her their its our mom dad mother father son
    daughter wife husband friend owner manager nurse teacher urgent monday tuesday wednesday
    thursday friday saturday sunday
"""
_NOT_NAMES = frozenset(_COMMON_WORDS.split())


def _find_name(text: str, folded: str) -> str | None:
    for trigger, rule in (
        (_STATED, "stated"),
        (_INTRODUCED, "introduced"),
        (_PRESENTED, "presented"),
    ):
        for match in trigger.finditer(folded):
            words = _name_words(text, match.end(), rule)
            if words:
                return " ".join(_capitalise(word) for word in words)
    return None


def _name_words(text: str, position: int, rule: str) -> list[str]:
    words: list[str] = []
    while len(words) < _MAX_NAME_WORDS:
        match = _NAME_WORD.match(text, position)
        if match is None or not _name_like(match[0], rule, first_titled=_titled(words)):
            break
        words.append(match[0])
        gap = _BETWEEN_NAME_WORDS.match(text, match.end())
        if gap is None:
            break
        position = gap.end()
    return words


def _name_like(word: str, rule: str, *, first_titled: bool | None) -> bool:
    folded = fold(word)
    if len(word) < 2 or folded in _NOT_NAMES:
        return False
    if rule == "stated":
        return True
    if _is_titled(word):
        # "Ana maría" is fine, "Ana quiero" is not: once a name started capitalised, it stays so.
        return first_titled is not False
    if rule == "presented" or first_titled:
        return False
    return not any(folded.endswith(end) and len(folded) >= size for end, size in _STATE_ENDINGS)


def _titled(words: list[str]) -> bool | None:
    return _is_titled(words[0]) if words else None


def _is_titled(word: str) -> bool:
    # "Ana" and "McDonald" are titled; "ANA" is shouting, as uninformative as "ana".
    return word[0].isupper() and not word.isupper()


def _capitalise(word: str) -> str:
    if word.islower() or word.isupper():
        return re.sub(r"[^\W\d_]+", lambda part: part[0].capitalize(), word)
    return word


# --- email -----------------------------------------------------------------------------------

_EMAIL = re.compile(
    r"(?<![\w.+-])([\w.+-]+)@([a-z0-9-]+(?:\.[a-z0-9-]+)*\.[a-z]{2,})(?![\w-])", re.IGNORECASE
)


def _find_email(text: str) -> str | None:
    match = _EMAIL.search(text)
    return f"{match[1]}@{match[2].lower()}" if match else None


# --- phone -----------------------------------------------------------------------------------

# Digits with the separators people type ("+52 55 1234 5678", "(415) 555-0134"), not glued to
# words, prices, order numbers ("#12345"), dates ("12/03"), times ("15:30") or emails.
_PHONE = re.compile(r"(?<![\w#$€£+/:.,@-])\+?\(?\d(?:[ ().-]{0,3}\d)+(?![\w/:%$@-])")
_ORDER_NUMBER_BEFORE = re.compile(
    r"(?:\b(?:pedido|orden|order|folio|ticket|factura|invoice|guia|tracking|referencia|reference"
    r"|ref|cliente|customer|account|cuenta)(?:\s*(?:no|nro|num|numero|number))?"
    r"|\b(?:no|nro|num)\s*[.#°º]|#)\s*[.:#°º]?\s*$"
)
_E164_DIGITS = (8, 15)
_BARE_DIGITS = (11, 15)


def _find_phone(text: str, folded: str) -> str | None:
    """The first phone number written in `text`, in E.164 form ("+525512345678"), or None.

    A country code must be visible: a leading "+" or "00" (8 to 15 digits then count), or 11 to
    15 digits written without one, read as country code plus number. A 10-digit national number
    ("5512345678", "(415) 555-0134") is left out: its country cannot be told from the text, and
    the channel already knows the customer's own number. Numbers starting with a trunk "0"
    without a country code are national too.
    """
    for match in _PHONE.finditer(text):
        raw = match[0].lstrip("(")
        digits = re.sub(r"\D", "", raw)
        if _ORDER_NUMBER_BEFORE.search(folded, 0, match.start()):
            continue
        if raw.startswith("+"):
            low, high = _E164_DIGITS
        elif digits.startswith("00"):
            digits = digits[2:]
            low, high = _E164_DIGITS
        elif digits.startswith("0"):
            continue
        else:
            low, high = _BARE_DIGITS
        if low <= len(digits) <= high:
            return "+" + digits
    return None


# --- day and time ----------------------------------------------------------------------------

_WEEKDAYS = {
    **dict.fromkeys(("lunes", "monday"), 0),
    **dict.fromkeys(("martes", "tuesday"), 1),
    **dict.fromkeys(("miercoles", "wednesday"), 2),
    **dict.fromkeys(("jueves", "thursday"), 3),
    **dict.fromkeys(("viernes", "friday"), 4),
    **dict.fromkeys(("sabado", "saturday"), 5),
    **dict.fromkeys(("domingo", "sunday"), 6),
}
_MONTHS = {
    **dict.fromkeys(("enero", "ene", "january", "jan"), 1),
    **dict.fromkeys(("febrero", "feb", "february"), 2),
    **dict.fromkeys(("marzo", "march"), 3),
    **dict.fromkeys(("abril", "abr", "april", "apr"), 4),
    **dict.fromkeys(("mayo", "may"), 5),
    **dict.fromkeys(("junio", "jun", "june"), 6),
    **dict.fromkeys(("julio", "jul", "july"), 7),
    **dict.fromkeys(("agosto", "ago", "august", "aug"), 8),
    **dict.fromkeys(("septiembre", "setiembre", "sep", "sept", "september"), 9),
    **dict.fromkeys(("octubre", "oct", "october"), 10),
    **dict.fromkeys(("noviembre", "nov", "november"), 11),
    **dict.fromkeys(("diciembre", "dic", "december", "dec"), 12),
}
# Relative days: days from today, and a part of the day when the words name one.
_RELATIVE = {
    "hoy": (0, None),
    "today": (0, None),
    "manana": (1, None),
    "tomorrow": (1, None),
    "tmrw": (1, None),
    "pasado manana": (2, None),
    "day after tomorrow": (2, None),
    "the day after tomorrow": (2, None),
    "tonight": (0, "night"),
    "esta noche": (0, "night"),
    "esta tarde": (0, "afternoon"),
    "esta manana": (0, "morning"),
    "this morning": (0, "morning"),
    "this afternoon": (0, "afternoon"),
    "this evening": (0, "night"),
}
_PARTS = {
    "manana": "morning",
    "morning": "morning",
    "madrugada": "morning",
    "tarde": "afternoon",
    "afternoon": "afternoon",
    "noche": "night",
    "evening": "night",
    "night": "night",
}
# A part of the day named without a time ("por la mañana") means this hour.
_PART_HOURS = {"morning": 10, "afternoon": 16, "night": 20}
_AFTER_NOON = ("pm", "afternoon", "night")


def _words(names: Sequence[str]) -> str:
    escaped = (re.escape(name).replace(r"\ ", r"\s+") for name in names)
    return "|".join(sorted(escaped, key=len, reverse=True))


_WD = _words(list(_WEEKDAYS))
_MONTH = _words(list(_MONTHS))
_ORDINAL = r"(?:º|°|st|nd|rd|th)?"
_DATE_PREFIX = r"(?:\b(?:(?:para\s+)?el(?:\s+dia)?|on(?:\s+the)?|the)\s+)?"
_SPOKEN_PART = r"(?P<part>morning|afternoon|evening|night)"
_CLOCK_PART = (
    r"(?P<clock_part>(?:de|en|por)\s+la\s+(?:manana|tarde|noche|madrugada)"
    r"|in\s+the\s+(?:morning|afternoon|evening)|at\s+night)"
)

_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = (
    # Habits, not proposals: "abren los sábados?", "todos los lunes".
    ("habit", re.compile(rf"\b(?:todos\s+)?los\s+(?:{_WD})\b")),
    (
        "day_month",
        re.compile(
            rf"{_DATE_PREFIX}(?<![\d/])(?P<day>\d{{1,2}}){_ORDINAL}(?:\s+de|\s+of)?\s+"
            rf"(?P<month>{_MONTH})\b\.?(?:,?\s+(?:de\s+|del\s+)?(?P<year>\d{{4}}))?(?!\w)"
        ),
    ),
    (
        "month_day",
        re.compile(
            rf"{_DATE_PREFIX}\b(?P<month>{_MONTH})\b\.?\s+(?P<day>\d{{1,2}}){_ORDINAL}"
            rf"(?:,?\s+(?P<year>\d{{4}}))?(?![\w:/])"
        ),
    ),
    (
        "numeric",
        re.compile(
            rf"{_DATE_PREFIX}(?<![\d/.])(?P<first>\d{{1,2}})/(?P<second>\d{{1,2}})"
            r"(?:/(?P<year>\d{4}|\d{2}))?(?![\d/])"
        ),
    ),
    (
        "day_of_month",
        re.compile(
            r"\b(?:el\s+dia\s+(?P<dom>\d{1,2})|the\s+(?P<nth>\d{1,2})(?:st|nd|rd|th))(?!\w)"
        ),
    ),
    ("relative", re.compile(rf"\b(?P<rel>{_words(list(_RELATIVE))})(?:\s+{_SPOKEN_PART})?\b")),
    (
        "weekday",
        re.compile(
            r"\b(?:(?:el|este|esta|el\s+proximo|proximo|para\s+el|next|this|this\s+coming|coming|"
            rf"on|on\s+next)\s+)?(?P<wd>{_WD})(?:\s+{_SPOKEN_PART})?\b"
        ),
    ),
    (
        "clock",
        re.compile(
            r"(?:\b(?P<prep>a\s+las?|a\s+eso\s+de\s+las?|para\s+las?|at)\s+|(?<![\w.:/$@+#-]))"
            r"(?P<hour>\d{1,2})(?:(?P<sep>[:.])(?P<minute>[0-5]\d))?"
            r"(?:\s*(?P<ampm>[ap])\.?\s?m\b\.?|\s*(?:hs|hrs|h|horas)\b)?"
            r"(?:\s+y\s+(?P<fraction>media|cuarto))?"
            rf"(?:\s+{_CLOCK_PART})?(?![\w:/])"
        ),
    ),
    ("noon", re.compile(r"\b(?:(?:a|al|at|para\s+el)\s+)?(?:mediodia|medio\s+dia|noon|midday)\b")),
    (
        "part",
        re.compile(
            r"\b(?:(?:de|en|por|a|para)\s+)?la\s+(?P<es>manana|tarde|noche)\b"
            r"|\bin\s+the\s+(?P<en>morning|afternoon|evening)\b|\bat\s+(?P<at>night)\b"
        ),
    ),
)


@dataclass(frozen=True)
class _Hit:
    start: int
    end: int
    kind: str
    day: date | None = None
    hour: int = 0
    minute: int = 0
    # The hour is already on a 24-hour clock ("15:30", "07:00", "mediodía").
    literal: bool = False
    # 'am', 'pm', or a part of the day ('morning', 'afternoon', 'night').
    period: str | None = None


@dataclass(frozen=True)
class _Moment:
    when: datetime
    date_only: bool
    text: str


def _find_when(text: str, folded: str, now: datetime) -> _Moment | None:
    """The day and time proposed in `text`, resolved against `now`.

    A calendar date wins over a relative day ("mañana"), which wins over a weekday name; within
    a kind, the first one named counts (as does the first time). Without
    am/pm or a part of the day, hours 1-7 are afternoon (business hours: "a las 5" is 17:00),
    8-11 morning and 12 noon. A time without a day is today if still ahead of `now`, else
    tomorrow; a day without a time is that day at 00:00 with `date_only`.
    """
    hits = _without_overlaps(_hits(text, folded, now.date()))
    day_hit = next(
        (hit for kind in ("date", "relative", "weekday") for hit in hits if hit.kind == kind), None
    )
    clock = next((hit for hit in hits if hit.kind == "clock"), None)
    part_hit = next((hit for hit in hits if hit.kind == "part"), None)
    used = [hit for hit in (day_hit, clock) if hit is not None]
    period = clock.period if clock else None
    if period is None and day_hit is not None:
        period = day_hit.period
    if period is None and part_hit is not None:
        period = part_hit.period
        used.append(part_hit)
    day = day_hit.day if day_hit is not None else None
    if clock is not None:
        moment = time(_hour_of_day(clock.hour, period, literal=clock.literal), clock.minute)
    elif period is not None:
        moment = time(_PART_HOURS[period])
    elif day is not None:
        return _Moment(datetime.combine(day, time(), now.tzinfo), True, _span_text(text, used))
    else:
        return None
    if day is not None:
        when = datetime.combine(day, moment, now.tzinfo)
    else:
        when = datetime.combine(now.date(), moment, now.tzinfo)
        if when <= now:
            when = datetime.combine(now.date() + timedelta(days=1), moment, now.tzinfo)
    return _Moment(when, False, _span_text(text, used))


def _hits(text: str, folded: str, today: date) -> Iterator[_Hit]:
    for kind, pattern in _PATTERNS:
        for match in pattern.finditer(folded):
            hit = _read(kind, match, text, today)
            if hit is not None:
                yield hit


def _read(kind: str, match: re.Match[str], text: str, today: date) -> _Hit | None:
    start, end = match.span()
    groups = match.groupdict()
    if kind == "habit":
        return _Hit(start, end, "habit")
    if kind in ("day_month", "month_day"):
        month = _MONTHS[groups["month"]]
        day = _calendar_day(today, int(groups["year"] or 0), month, int(groups["day"]))
        return _Hit(start, end, "date", day=day) if day else None
    if kind == "numeric":
        day = _numeric_day(today, int(groups["first"]), int(groups["second"]), groups["year"], text)
        return _Hit(start, end, "date", day=day) if day else None
    if kind == "day_of_month":
        day = _day_of_month(today, int(groups["dom"] or groups["nth"]))
        return _Hit(start, end, "date", day=day) if day else None
    if kind == "relative":
        offset, period = _RELATIVE[" ".join(groups["rel"].split())]
        spoken = _PARTS.get(groups["part"] or "")
        day = today + timedelta(days=offset)
        return _Hit(start, end, "relative", day=day, period=spoken or period)
    if kind == "weekday":
        ahead = (_WEEKDAYS[groups["wd"]] - today.weekday()) % 7 or 7
        period = _PARTS.get(groups["part"] or "")
        return _Hit(start, end, "weekday", day=today + timedelta(days=ahead), period=period)
    if kind == "clock":
        return _clock(match)
    if kind == "noon":
        return _Hit(start, end, "clock", hour=12, literal=True)
    part = groups["es"] or groups["en"] or groups["at"]
    return _Hit(start, end, "part", period=_PARTS[part])


def _clock(match: re.Match[str]) -> _Hit | None:
    prep, sep, ampm, part = match["prep"], match["sep"], match["ampm"], match["clock_part"]
    # A bare number is a time only when written like one: "15:30", "3pm", "5 de la tarde".
    # "5.30" needs "a las" / "at" in front: alone it is more likely a price.
    if not (prep or sep == ":" or ampm or part):
        return None
    hour = int(match["hour"])
    if hour > 23:
        return None
    minute = int(match["minute"]) if match["minute"] else 0
    if match["fraction"]:
        minute = 30 if match["fraction"] == "media" else 15
    if ampm:
        period: str | None = ampm + "m"
    elif part:
        period = _PARTS[part.split()[-1]]
    else:
        period = None
    # "07:00" and "15:30" are written on a 24-hour clock and mean exactly that.
    literal = hour == 0 or hour > 12 or (sep == ":" and match["hour"].startswith("0"))
    return _Hit(*match.span(), "clock", hour=hour, minute=minute, literal=literal, period=period)


def _hour_of_day(hour: int, period: str | None, *, literal: bool) -> int:
    if period in _AFTER_NOON and hour < 12:
        return hour + 12
    if period == "am" and hour == 12:
        return 0
    if period is None and not literal and 1 <= hour <= 7:
        return hour + 12
    return hour


def _calendar_day(today: date, year: int, month: int, day: int) -> date | None:
    """The date named; without a year, the next one from today on (a past date is next year's)."""
    try:
        named = date(year or today.year, month, day)
        if not year and named < today:
            named = named.replace(year=today.year + 1)
    except ValueError:
        return None
    return named


def _numeric_day(today: date, first: int, second: int, year: str | None, text: str) -> date | None:
    """ "12/03": day/month in Spanish, month/day in English, unless one number is above 12."""
    if first > 12 >= second:
        day, month = first, second
    elif second > 12 >= first or detect_language([text], default="es") == "en":
        month, day = first, second
    else:
        day, month = first, second
    full_year = int(year) + (2000 if year and len(year) == 2 else 0) if year else 0
    return _calendar_day(today, full_year, month, day)


def _day_of_month(today: date, day: int) -> date | None:
    """ "el día 20": this month's 20th, or next month's when this month's has passed."""
    month_start = today.replace(day=1)
    for months_ahead in (0, 1):
        start = (month_start + timedelta(days=32 * months_ahead)).replace(day=1)
        try:
            named = start.replace(day=day)
        except ValueError:
            continue
        if named >= today:
            return named
    return None


def _without_overlaps(hits: Iterator[_Hit]) -> list[_Hit]:
    """Earliest and then longest hit wins: "de la mañana" is a morning, not tomorrow."""
    kept: list[_Hit] = []
    for hit in sorted(hits, key=lambda hit: (hit.start, hit.start - hit.end)):
        if not kept or hit.start >= kept[-1].end:
            kept.append(hit)
    return kept


def _span_text(text: str, hits: list[_Hit]) -> str:
    """The words that named the moment; far-apart pieces are joined by a space."""
    pieces: list[tuple[int, int]] = []
    for hit in sorted(hits, key=lambda hit: hit.start):
        if pieces and _adjacent(text[pieces[-1][1] : hit.start]):
            pieces[-1] = (pieces[-1][0], hit.end)
        else:
            pieces.append((hit.start, hit.end))
    return " ".join(text[start:end] for start, end in pieces)


def _adjacent(gap: str) -> bool:
    return len(gap) <= 20 and not re.search(r"[.!?\n]", gap)


# --- services --------------------------------------------------------------------------------


def _find_services(folded: str, services: Sequence[Service]) -> tuple[str, ...]:
    found: list[str] = []
    for service in services:
        if service.name not in found and any(
            _mentions(folded, term) for term in (service.name, *service.aliases)
        ):
            found.append(service.name)
    return tuple(found)


def _mentions(folded: str, term: str) -> bool:
    words = fold(term).split()
    if not words:
        return False
    # Each word may carry a plural ending: "limpiezas dentales" names "limpieza dental".
    body = r"\s+".join(re.escape(word) + "(?:e?s)?" for word in words)
    return re.search(rf"(?<!\w){body}(?!\w)", folded) is not None
