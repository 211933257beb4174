"""The receptionist that answers from the profile when the model cannot."""

import re
from datetime import datetime

import pytest

from domain.conversation import Extraction, Intent
from domain.fallback import FallbackReason, fallback_reply
from domain.profile import parse_profile
from domain.prompts import format_spans
from tests.domain.sample_profile import CLINIC_PROFILE

PROFILE = parse_profile(CLINIC_PROFILE, default_name="fallback name")
OPEN = datetime(2026, 11, 24, 10, 30)  # Tuesday morning
CLOSED = datetime(2026, 11, 29, 12, 0)  # Sunday
ES_FOLLOW_UP = "Una persona de Clínica Dental Sonrisa te responderá en breve."
EN_FOLLOW_UP = "A person from Clínica Dental Sonrisa will follow up shortly."
ES_HOURS = "Nuestro horario: lunes a viernes 09:00-19:00; sábado 09:00-14:00; domingo cerrado."
EN_HOURS = "Our opening hours: Monday to Friday 09:00-19:00; Saturday 09:00-14:00; Sunday closed."
ES_ALL_PRICES = (
    "Nuestros precios: Limpieza dental, 800 MXN; Blanqueamiento dental, 3500 MXN; "
    "Resina, 1250.50 MXN; Ortodoncia, precio a consultar."
)
EN_ALL_PRICES = (
    "Our prices: Limpieza dental, 800 MXN; Blanqueamiento dental, 3500 MXN; "
    "Resina, 1250.50 MXN; Ortodoncia, price on request."
)
ADDRESS = "Av. Insurgentes Sur 1234, Col. Del Valle, Ciudad de México"


def _reply(
    text: str,
    intent: Intent = Intent.QUESTION,
    language: str = "es",
    services: tuple[str, ...] = (),
    local_now: datetime = OPEN,
) -> str:
    return fallback_reply(
        profile=PROFILE,
        text=text,
        extraction=Extraction(services=services),
        intent=intent,
        language=language,
        local_now=local_now,
    )


@pytest.mark.parametrize(
    ("text", "intent", "language", "services", "local_now", "expected"),
    [
        (
            "¿Qué horario tienen?",
            Intent.QUESTION,
            "es",
            (),
            OPEN,
            f"{ES_HOURS} Ahora estamos abiertos.",
        ),
        (
            "¿A qué hora abren el domingo?",
            Intent.QUESTION,
            "es",
            (),
            CLOSED,
            f"{ES_HOURS} Ahora estamos cerrados.",
        ),
        (
            "What are your opening hours?",
            Intent.QUESTION,
            "en",
            (),
            OPEN,
            f"{EN_HOURS} We are open now.",
        ),
        (
            "when do you close today",
            Intent.QUESTION,
            "en",
            (),
            CLOSED,
            f"{EN_HOURS} We are closed right now.",
        ),
        (
            "¿Cuánto cuesta la limpieza?",
            Intent.PRICE,
            "es",
            ("Limpieza dental",),
            OPEN,
            "Nuestros precios: Limpieza dental, 800 MXN.",
        ),
        (
            "precio de resina y blanqueamiento",
            Intent.PRICE,
            "es",
            ("Resina", "Blanqueamiento dental"),
            OPEN,
            "Nuestros precios: Resina, 1250.50 MXN; Blanqueamiento dental, 3500 MXN.",
        ),
        (
            "How much are braces?",
            Intent.PRICE,
            "en",
            ("Ortodoncia",),
            OPEN,
            f"Our prices: Ortodoncia, price on request.\n{EN_FOLLOW_UP}",
        ),
        (
            "¿Qué precios manejan?",
            Intent.PRICE,
            "es",
            (),
            OPEN,
            f"{ES_ALL_PRICES}\n{ES_FOLLOW_UP}",
        ),
        ("prices?", Intent.QUESTION, "en", (), OPEN, f"{EN_ALL_PRICES}\n{EN_FOLLOW_UP}"),
        ("¿Dónde están ubicados?", Intent.QUESTION, "es", (), OPEN, f"Estamos en {ADDRESS}."),
        ("What is your address?", Intent.QUESTION, "en", (), OPEN, f"We are at {ADDRESS}."),
        (
            "¿aceptan tarjetas de crédito?",
            Intent.QUESTION,
            "es",
            (),
            OPEN,
            "Sí, aceptamos tarjetas de crédito y débito Visa y Mastercard.",
        ),
        (
            "Hola, ¿tienen estacionamiento para clientes?",
            Intent.QUESTION,
            "es",
            (),
            OPEN,
            "Sí, hay estacionamiento gratuito frente a la clínica.",
        ),
        (
            "¿ATIENDEN NIÑOS?",
            Intent.QUESTION,
            "es",
            (),
            OPEN,
            "Sí, atendemos a niños a partir de 3 años.",
        ),
        (
            "Quiero una cita mañana a las 5",
            Intent.BOOK,
            "es",
            (),
            OPEN,
            "Recibimos tu solicitud de cita; no podemos confirmar horarios por aquí.\n"
            f"{ES_FOLLOW_UP}",
        ),
        (
            "Can I book a cleaning on Tuesday at 3pm?",
            Intent.BOOK,
            "en",
            ("Limpieza dental",),
            OPEN,
            f"We have your appointment request; we cannot confirm times here.\n{EN_FOLLOW_UP}",
        ),
        (
            "Necesito cambiar mi cita del jueves",
            Intent.RESCHEDULE,
            "es",
            (),
            OPEN,
            f"Recibimos tu solicitud para cambiar tu cita.\n{ES_FOLLOW_UP}",
        ),
        (
            "Please cancel my appointment",
            Intent.CANCEL,
            "en",
            (),
            OPEN,
            f"We have your request to cancel your appointment.\n{EN_FOLLOW_UP}",
        ),
        (
            "Me cobraron de más, pésimo servicio",
            Intent.COMPLAINT,
            "es",
            (),
            OPEN,
            f"Lamentamos mucho la molestia.\n{ES_FOLLOW_UP}",
        ),
        ("Quiero hablar con una persona", Intent.HUMAN, "es", (), OPEN, ES_FOLLOW_UP),
        (
            "Hola",
            Intent.GREETING,
            "es",
            (),
            OPEN,
            f"¡Hola! Gracias por escribir a Clínica Dental Sonrisa.\n{ES_FOLLOW_UP}",
        ),
        (
            "Hi there",
            Intent.GREETING,
            "en",
            (),
            OPEN,
            f"Hello! Thank you for writing to Clínica Dental Sonrisa.\n{EN_FOLLOW_UP}",
        ),
        ("¿Hacen implantes?", Intent.QUESTION, "es", (), OPEN, ES_FOLLOW_UP),
        ("asdf", Intent.OTHER, "en", (), OPEN, EN_FOLLOW_UP),
        # A language we do not write in: the business's own language.
        ("Bonjour", Intent.OTHER, "fr", (), OPEN, ES_FOLLOW_UP),
        (
            "¿Dónde están y a qué hora cierran?",
            Intent.QUESTION,
            "es",
            (),
            OPEN,
            f"{ES_HOURS} Ahora estamos abiertos.\nEstamos en {ADDRESS}.",
        ),
    ],
)
def test_fallback_reply(
    text: str,
    intent: Intent,
    language: str,
    services: tuple[str, ...],
    local_now: datetime,
    expected: str,
):
    assert _reply(text, intent, language, services, local_now) == expected


# Questions that name prices, dates and times the profile does not hold.
TRICKY = [
    ("¿La limpieza cuesta 500?", Intent.PRICE, ("Limpieza dental",)),
    ("¿Me lo dejan en 2000 el blanqueamiento?", Intent.PRICE, ("Blanqueamiento dental",)),
    ("¿Cuánto cuesta la ortodoncia? ¿15000?", Intent.PRICE, ("Ortodoncia",)),
    ("How much for braces, 999 dollars?", Intent.PRICE, ("Ortodoncia",)),
    ("¿Tienen espacio el 12 de diciembre a las 16:30?", Intent.BOOK, ()),
    ("Book me at 4:45pm on the 3rd", Intent.BOOK, ()),
    ("Cambiar mi cita del 7 al 9", Intent.RESCHEDULE, ()),
    ("Cancela la cita de las 11", Intent.CANCEL, ()),
    ("¿Abren a las 7 am?", Intent.QUESTION, ()),
    ("price list 2025", Intent.PRICE, ()),
    ("¿Cuánto cuesta un implante? ¿8000?", Intent.PRICE, ()),
    ("Soy Ana, 5512345678, quiero limpieza 45 min a 300", Intent.BOOK, ("Limpieza dental",)),
]
NUMBER = re.compile(r"\d+(?:[.,:]\d+)*")


def _profile_numbers() -> set[str]:
    shown = [
        *(str(s.price) for s in PROFILE.services if s.price is not None),
        *(format_spans(spans) for spans in PROFILE.hours.values()),
        PROFILE.address or "",
        *(entry.answer for entry in PROFILE.faq),
    ]
    return {number for text in shown for number in NUMBER.findall(text)}


@pytest.mark.parametrize(("text", "intent", "services"), TRICKY)
@pytest.mark.parametrize("language", ["es", "en"])
@pytest.mark.parametrize("local_now", [OPEN, CLOSED])
def test_never_a_number_the_profile_does_not_hold(
    text: str, intent: Intent, services: tuple[str, ...], language: str, local_now: datetime
):
    reply = fallback_reply(
        profile=PROFILE,
        text=text,
        extraction=Extraction(services=services, when=datetime(2026, 12, 12, 16, 30)),
        intent=intent,
        language=language,
        local_now=local_now,
    )
    assert set(NUMBER.findall(reply)) <= _profile_numbers(), reply


APPOINTMENT_INTENTS = (Intent.BOOK, Intent.RESCHEDULE, Intent.CANCEL)


@pytest.mark.parametrize(
    ("text", "intent", "services"), [case for case in TRICKY if case[1] in APPOINTMENT_INTENTS]
)
@pytest.mark.parametrize(("language", "follow_up"), [("es", ES_FOLLOW_UP), ("en", EN_FOLLOW_UP)])
def test_appointment_requests_end_with_a_person(
    text: str, intent: Intent, services: tuple[str, ...], language: str, follow_up: str
):
    assert _reply(text, intent, language, services).endswith(follow_up)


def test_profile_numbers_are_what_the_check_allows():
    assert _profile_numbers() == {
        "800",
        "3500",
        "1250.50",
        "09:00",
        "19:00",
        "14:00",
        "1234",
        "3",
    }


def test_without_an_address_the_question_goes_to_a_person():
    profile = parse_profile({**CLINIC_PROFILE, "address": None}, default_name="x")
    reply = fallback_reply(
        profile=profile,
        text="¿Dónde están?",
        extraction=Extraction(),
        intent=Intent.QUESTION,
        language="es",
        local_now=OPEN,
    )
    assert reply == ES_FOLLOW_UP


def test_without_services_a_price_question_goes_to_a_person():
    profile = parse_profile({**CLINIC_PROFILE, "services": []}, default_name="x")
    reply = fallback_reply(
        profile=profile,
        text="What are your prices?",
        extraction=Extraction(),
        intent=Intent.PRICE,
        language="en",
        local_now=OPEN,
    )
    assert reply == EN_FOLLOW_UP


def test_one_shared_word_does_not_match_an_faq_question():
    # "tarjeta" alone is a third of "¿Aceptan tarjeta de crédito?": not enough.
    assert _reply("Les mando mi tarjeta de presentación") == ES_FOLLOW_UP


def test_reasons_are_the_stored_strings():
    assert [reason.value for reason in FallbackReason] == [
        "no_key",
        "breaker_open",
        "cap_reached",
        "llm_error",
    ]


@pytest.mark.parametrize(
    ("text", "answer_start"),
    [
        ("¿aceptan tarjeta de crédito?", "Sí, aceptamos tarjetas"),
        ("hola, tienen estacionamiento?", "Sí, hay estacionamiento"),
        ("¿cuánto cuesta una limpieza?", None),
    ],
)
def test_matching_faq(text: str, answer_start: str | None) -> None:
    from domain.fallback import matching_faq

    found = matching_faq(PROFILE, text)
    assert (found.answer[: len(answer_start)] if found else None) == answer_start
