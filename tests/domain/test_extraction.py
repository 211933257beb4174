"""Deterministic extraction from customers' messages, in Spanish and English."""

from datetime import datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from domain.extraction import extract
from domain.profile import Service

ZONE = ZoneInfo("America/Mexico_City")
# A Wednesday morning.
NOW = datetime(2026, 11, 18, 10, 0, tzinfo=ZONE)
SERVICES = (
    Service("Limpieza dental", Decimal("50"), "USD", 30, aliases=("limpieza", "cleaning")),
    Service("Blanqueamiento", None, "USD", 60, aliases=("whitening", "blanqueo")),
    Service("Ortodoncia", Decimal("900"), "USD", 45, aliases=("brackets", "braces")),
    Service("Extracción", Decimal("80"), "USD", 40, aliases=("sacar una muela",)),
)


def at(month: int, day: int, hour: int = 0, minute: int = 0, year: int = 2026) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=ZONE)


def run(text: str):
    return extract(text, now=NOW, services=SERVICES)


@pytest.mark.parametrize(
    ("text", "name"),
    [
        ("me llamo Ana", "Ana"),
        ("Hola, me llamo ana", "Ana"),
        ("mi nombre es Ana García", "Ana García"),
        ("mi nombre es ana garcía lópez pérez", "Ana García López"),
        ("ME LLAMO ANA GARCIA", "Ana Garcia"),
        ("me llamo María José y quiero una cita", "María José"),
        ("hola soy Ana, quiero una cita", "Ana"),
        ("soy ana", "Ana"),
        ("Soy Ana quiero agendar", "Ana"),
        ("me llamo o'brien", "O'Brien"),
        ("Soy Ana McDonald", "Ana McDonald"),
        ("soy alérgico a la penicilina", None),
        ("soy de Lima", None),
        ("soy nuevo paciente", None),
        ("soy casada", None),
        ("soy la mamá de Pedro", None),
        ("Soy yo otra vez", None),
        ("me llamo", None),
        ("my name is John Smith", "John Smith"),
        ("My name is john", "John"),
        ("I'm John", "John"),
        ("Hi, I\u2019m Sarah Connor from Acme", "Sarah Connor"),
        ("im john", "John"),
        ("This is Mary", "Mary"),
        ("I'm interested in whitening", None),
        ("I'm fine, thanks", None),
        ("i'm looking for a dentist", None),
        ("I am calling about my appointment", None),
        ("this is ridiculous", None),
        ("this is urgent", None),
        ("I'm a new patient", None),
    ],
)
def test_name(text: str, name: str | None):
    assert run(text).name == name


@pytest.mark.parametrize(
    ("text", "email"),
    [
        ("mi correo es ana.garcia@gmail.com", "ana.garcia@gmail.com"),
        ("Mi correo: Ana.Garcia@Gmail.COM.", "Ana.Garcia@gmail.com"),
        ("email me at john+dentist@Example.co.uk, thanks", "john+dentist@example.co.uk"),
        ("escribeme a ana@ correo", None),
        ("@clinica en instagram", None),
    ],
)
def test_email(text: str, email: str | None):
    assert run(text).email == email


@pytest.mark.parametrize(
    ("text", "phone"),
    [
        ("mi número es +52 55 1234 5678", "+525512345678"),
        ("+52 1 55 1234 5678", "+5215512345678"),
        ("llámame al 0052 55 1234 5678", "+525512345678"),
        ("my number is +1 (415) 555-0134", "+14155550134"),
        ("+44 20 7946 0958.", "+442079460958"),
        ("mi whatsapp 5215512345678", "+5215512345678"),
        # Ten digits and no country code: which country is unknown.
        ("mi número es 5512345678", None),
        ("call me at (415) 555-0134", None),
        ("415-555-0134", None),
        # A trunk zero is a national number.
        ("07700 900123", None),
        # Not phones: order numbers, prices, dates, times.
        ("mi pedido es #12345", None),
        ("pedido 12345678901", None),
        ("order no. 12345678901", None),
        ("cuesta $1,500", None),
        ("1.500.000 pesos", None),
        ("el 12/03/2027 a las 15:30", None),
        ("2026-11-18 10:30", None),
        ("ana.12345678901@gmail.com", None),
    ],
)
def test_phone(text: str, phone: str | None):
    assert run(text).phone_e164 == phone


@pytest.mark.parametrize(
    ("text", "when", "date_only", "when_text"),
    [
        # Spanish: relative days.
        ("mañana a las 5", at(11, 19, 17), False, "mañana a las 5"),
        ("manana a las 5", at(11, 19, 17), False, "manana a las 5"),
        ("mañana", at(11, 19), True, "mañana"),
        ("pasado mañana", at(11, 20), True, "pasado mañana"),
        ("hoy", at(11, 18), True, "hoy"),
        ("hoy a las 4 y media", at(11, 18, 16, 30), False, "hoy a las 4 y media"),
        ("esta noche", at(11, 18, 20), False, "esta noche"),
        ("esta noche a las 9", at(11, 18, 21), False, "esta noche a las 9"),
        ("mañana por la mañana", at(11, 19, 10), False, "mañana por la mañana"),
        ("mañana en la tarde", at(11, 19, 16), False, "mañana en la tarde"),
        ("mañana al mediodía", at(11, 19, 12), False, "mañana al mediodía"),
        ("mañana a las 10 de la mañana", at(11, 19, 10), False, "mañana a las 10 de la mañana"),
        # Spanish: weekdays, strictly after today.
        ("el martes", at(11, 24), True, "el martes"),
        ("el martes 3pm", at(11, 24, 15), False, "el martes 3pm"),
        ("el miércoles", at(11, 25), True, "el miércoles"),
        ("el miercoles", at(11, 25), True, "el miercoles"),
        ("hoy miércoles", at(11, 18), True, "hoy"),
        ("este viernes", at(11, 20), True, "este viernes"),
        ("el próximo lunes a las 11", at(11, 23, 11), False, "el próximo lunes a las 11"),
        ("el sábado a las 10:30", at(11, 21, 10, 30), False, "el sábado a las 10:30"),
        ("el viernes por la tarde", at(11, 20, 16), False, "el viernes por la tarde"),
        ("el domingo a las 9 de la noche", at(11, 22, 21), False, "el domingo a las 9 de la noche"),
        # Spanish: dates; a past date this year is next year's.
        ("el 12 de marzo", at(3, 12, year=2027), True, "el 12 de marzo"),
        ("12 de diciembre a las 5", at(12, 12, 17), False, "12 de diciembre a las 5"),
        ("el 5 de noviembre", at(11, 5, year=2027), True, "el 5 de noviembre"),
        ("el 18 de noviembre", at(11, 18), True, "el 18 de noviembre"),
        ("12/03", at(3, 12, year=2027), True, "12/03"),
        ("el 25/12 a las 11", at(12, 25, 11), False, "el 25/12 a las 11"),
        ("el día 20", at(11, 20), True, "el día 20"),
        ("el día 10", at(12, 10), True, "el día 10"),
        # A calendar date wins over a weekday.
        ("el martes 24 de noviembre", at(11, 24), True, "24 de noviembre"),
        ("el viernes 12/03", at(3, 12, year=2027), True, "12/03"),
        # Spanish: times alone; today if still ahead of 10:00, else tomorrow.
        ("a las 5", at(11, 18, 17), False, "a las 5"),
        ("a las 5:30", at(11, 18, 17, 30), False, "a las 5:30"),
        ("a la 1", at(11, 18, 13), False, "a la 1"),
        ("a las 9", at(11, 19, 9), False, "a las 9"),
        ("a las 12", at(11, 18, 12), False, "a las 12"),
        ("15:30", at(11, 18, 15, 30), False, "15:30"),
        ("5 de la tarde", at(11, 18, 17), False, "5 de la tarde"),
        ("10 de la mañana", at(11, 19, 10), False, "10 de la mañana"),
        ("a las 9 de la noche", at(11, 18, 21), False, "a las 9 de la noche"),
        ("a las 17 hrs", at(11, 18, 17), False, "a las 17 hrs"),
        ("mediodía", at(11, 18, 12), False, "mediodía"),
        ("por la mañana", at(11, 19, 10), False, "por la mañana"),
        ("por la tarde", at(11, 18, 16), False, "por la tarde"),
        # Pieces in separate sentences are quoted apart.
        ("puede ser mañana? a las 5 estaría bien", at(11, 19, 17), False, "mañana a las 5"),
        # Spanish: nothing proposed.
        ("abren los sábados?", None, False, None),
        ("buenas tardes", None, False, None),
        ("tengo 5 hijos", None, False, None),
        ("cuesta 5.30 soles", None, False, None),
        ("somos 3 personas", None, False, None),
        # English.
        ("tomorrow", at(11, 19), True, "tomorrow"),
        ("today", at(11, 18), True, "today"),
        ("the day after tomorrow", at(11, 20), True, "the day after tomorrow"),
        ("tonight", at(11, 18, 20), False, "tonight"),
        ("tomorrow at 3pm", at(11, 19, 15), False, "tomorrow at 3pm"),
        ("tomorrow morning", at(11, 19, 10), False, "tomorrow morning"),
        ("on tuesday at 5", at(11, 24, 17), False, "on tuesday at 5"),
        ("next friday", at(11, 20), True, "next friday"),
        ("Wednesday", at(11, 25), True, "Wednesday"),
        ("Friday afternoon", at(11, 20, 16), False, "Friday afternoon"),
        ("March 12", at(3, 12, year=2027), True, "March 12"),
        (
            "on March 12th at 10:30am",
            at(3, 12, 10, 30, year=2027),
            False,
            "on March 12th at 10:30am",
        ),
        ("December 1, 2027", at(12, 1, year=2027), True, "December 1, 2027"),
        ("the 12th of December", at(12, 12), True, "the 12th of December"),
        ("can we do 12/03?", at(12, 3), True, "12/03"),
        ("on 3/15", at(3, 15, year=2027), True, "on 3/15"),
        ("the 25th", at(11, 25), True, "the 25th"),
        ("3pm", at(11, 18, 15), False, "3pm"),
        ("3 p.m.", at(11, 18, 15), False, "3 p.m."),
        ("at 5", at(11, 18, 17), False, "at 5"),
        ("at 9", at(11, 19, 9), False, "at 9"),
        ("at 11:45 am", at(11, 18, 11, 45), False, "at 11:45 am"),
        ("12am", at(11, 19, 0), False, "12am"),
        ("at noon", at(11, 18, 12), False, "at noon"),
        ("in the afternoon", at(11, 18, 16), False, "in the afternoon"),
        ("this morning", at(11, 18, 10), False, "this morning"),
        # English: nothing proposed.
        ("good morning!", None, False, None),
        ("are you open on sundays?", None, False, None),
        ("I have 2 kids", None, False, None),
        ("it costs $5.30", None, False, None),
    ],
)
def test_when(text: str, when: datetime | None, date_only: bool, when_text: str | None):
    found = run(text)
    assert (found.when, found.date_only, found.when_text) == (when, date_only, when_text)
    if when is not None:
        assert found.when is not None
        assert found.when.tzinfo is ZONE


@pytest.mark.parametrize(
    ("text", "services"),
    [
        ("quiero una limpieza dental", ("Limpieza dental",)),
        ("LIMPIEZA", ("Limpieza dental",)),
        ("dos limpiezas dentales por favor", ("Limpieza dental",)),
        ("blanqueamiento y limpieza", ("Limpieza dental", "Blanqueamiento")),
        ("how much are braces and a cleaning?", ("Limpieza dental", "Ortodoncia")),
        ("extraccion", ("Extracción",)),
        ("necesito sacar una muela", ("Extracción",)),
        ("limpieza, otra limpieza y cleaning", ("Limpieza dental",)),
        ("whitenings", ("Blanqueamiento",)),
        # Whole words only.
        ("limpiezadental", ()),
        ("embracing change", ()),
        ("hola", ()),
    ],
)
def test_services(text: str, services: tuple[str, ...]):
    assert run(text).services == services


def test_whole_message():
    found = run(
        "Hola, soy Ana García. Quiero agendar una limpieza el martes a las 4, "
        "mi correo es ana@mail.com y mi cel +52 55 1234 5678"
    )
    assert found.name == "Ana García"
    assert found.email == "ana@mail.com"
    assert found.phone_e164 == "+525512345678"
    assert (found.when, found.date_only, found.when_text) == (
        at(11, 24, 16),
        False,
        "el martes a las 4",
    )
    assert found.services == ("Limpieza dental",)
    assert found.personal


def test_nothing_found():
    found = run("ok 👍")
    assert found == extract("ok 👍", now=NOW, services=())
    assert not found.personal
    assert found.services == ()
