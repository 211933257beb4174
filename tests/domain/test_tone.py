"""The assistant's own fixed texts follow the profile's tone: "usted" or "tú"."""

from datetime import datetime

import pytest

from domain.conversation import Extraction, Intent
from domain.fallback import fallback_reply
from domain.profile import parse_profile
from domain.tone import handoff_notice, is_formal
from tests.domain.sample_profile import CLINIC_PROFILE

TUESDAY_MORNING = datetime(2026, 11, 24, 10, 30)


def profile(tone: str, language: str = "es"):
    return parse_profile({**CLINIC_PROFILE, "tone": tone, "language": language}, default_name="x")


@pytest.mark.parametrize(
    ("tone", "formal"),
    [
        ("amable, claro y breve; trata de usted", True),
        ("Hablar de USTED siempre", True),
        ("formal y cálido", True),
        ("cálido y profesional", False),
        ("cercano, de tú", False),
        ("tutea a los clientes", False),
        ("informal y divertido", False),
        ("de usted, nunca de tú", True),
        ("de tú, nunca de usted", False),
        ("friendly and concise", False),
    ],
)
def test_the_tone_says_usted_or_tu(tone: str, formal: bool) -> None:
    assert is_formal(profile(tone)) is formal


@pytest.mark.parametrize(
    ("tone", "language", "expected"),
    [
        (
            "amable; trata de usted",
            "es",
            "Gracias por su mensaje. Le comunico con una persona de {name};"
            " le responderá en breve.",
        ),
        (
            "cercano",
            "es",
            "Gracias por tu mensaje. Te comunico con una persona de {name};"
            " te responderá en breve.",
        ),
        (
            "amable; trata de usted",
            "en",
            "Thanks for your message. A person from {name} will take it from here shortly.",
        ),
    ],
)
def test_the_handoff_notice_follows_the_tone_in_the_customers_language(
    tone: str, language: str, expected: str
) -> None:
    assert handoff_notice(profile(tone), language) == expected


def test_an_unknown_language_gets_the_notice_in_the_profiles_language() -> None:
    assert handoff_notice(profile("de usted", language="es"), "fr").startswith("Gracias por su")


@pytest.mark.parametrize(
    ("tone", "expected"),
    [
        (
            "trata de usted",
            "Recibimos su solicitud de cita; no podemos confirmar horarios por aquí.\n"
            "Una persona de Clínica Dental Sonrisa le responderá en breve.",
        ),
        (
            "cálido y profesional",
            "Recibimos tu solicitud de cita; no podemos confirmar horarios por aquí.\n"
            "Una persona de Clínica Dental Sonrisa te responderá en breve.",
        ),
    ],
)
def test_the_fallback_addresses_the_customer_as_the_tone_says(tone: str, expected: str) -> None:
    reply = fallback_reply(
        profile=profile(tone),
        text="quiero una cita",
        extraction=Extraction(),
        intent=Intent.BOOK,
        language="es",
        local_now=TUESDAY_MORNING,
    )
    assert reply == expected


def test_hours_kept_for_later_do_not_say_whether_the_business_is_open_now() -> None:
    reply = fallback_reply(
        profile=profile("cálido"),
        text="¿qué horario tienen?",
        extraction=Extraction(),
        intent=Intent.QUESTION,
        language="es",
        local_now=None,
    )
    assert reply.startswith("Nuestro horario: lunes a viernes")
    assert "Ahora estamos" not in reply
