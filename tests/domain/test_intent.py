"""Keyword rules for intents and hand-off requests."""

import pytest

from domain.conversation import Intent
from domain.intent import asks_for_human, guess_intent, keyword_hit


@pytest.mark.parametrize(
    ("text", "intent"),
    [
        ("quiero hablar con una persona", Intent.HUMAN),
        ("Agente", Intent.HUMAN),
        ("me pasas con un asesor?", Intent.HUMAN),
        ("HUMANO", Intent.HUMAN),
        ("talk to a human", Intent.HUMAN),
        ("can I speak with a real person", Intent.HUMAN),
        ("representative please", Intent.HUMAN),
        ("hola, quiero cancelar y hablar con un asesor", Intent.HUMAN),
        ("pésimo servicio", Intent.COMPLAINT),
        ("quiero poner una queja", Intent.COMPLAINT),
        ("tengo un reclamo", Intent.COMPLAINT),
        ("this is terrible", Intent.COMPLAINT),
        ("I want to file a complaint", Intent.COMPLAINT),
        ("quiero mi reembolso", Intent.COMPLAINT),
        ("I want a refund for my cleaning", Intent.COMPLAINT),
        ("la atención es pésima, quiero cancelar", Intent.COMPLAINT),
        ("quiero cancelar mi cita", Intent.CANCEL),
        ("Cancel my appointment please", Intent.CANCEL),
        ("necesito cancelarla", Intent.CANCEL),
        ("necesito cambiar mi cita", Intent.RESCHEDULE),
        ("se puede reprogramar?", Intent.RESCHEDULE),
        ("puedo mover mi cita al jueves?", Intent.RESCHEDULE),
        ("I need to reschedule", Intent.RESCHEDULE),
        ("can I move my appointment to friday?", Intent.RESCHEDULE),
        ("mejor otro día", Intent.RESCHEDULE),
        ("quiero una cita", Intent.BOOK),
        ("quisiera agendar para mañana", Intent.BOOK),
        ("reservar un turno", Intent.BOOK),
        ("I'd like to book a cleaning", Intent.BOOK),
        ("do you have an appointment on monday?", Intent.BOOK),
        ("can I schedule a visit", Intent.BOOK),
        ("¿Cuánto cuesta la limpieza?", Intent.PRICE),
        ("precio del blanqueamiento", Intent.PRICE),
        ("cuanto sale", Intent.PRICE),
        ("how much is whitening", Intent.PRICE),
        ("what's the price", Intent.PRICE),
        ("what does it cost?", Intent.PRICE),
        ("¿tienen estacionamiento?", Intent.QUESTION),
        ("horario", Intent.QUESTION),
        ("donde estan ubicados", Intent.QUESTION),
        ("do you accept cards", Intent.QUESTION),
        ("are you open on sunday", Intent.QUESTION),
        ("hola", Intent.GREETING),
        ("Hola!! 👋", Intent.GREETING),
        ("buenas tardes", Intent.GREETING),
        ("hola, ¿cómo estás?", Intent.GREETING),
        ("hi", Intent.GREETING),
        ("Hello there", Intent.GREETING),
        ("good morning", Intent.GREETING),
        ("hola quiero info", Intent.OTHER),
        ("ok gracias", Intent.OTHER),
        ("no quiero hablar con nadie", Intent.OTHER),
        ("trabajo en recursos humanos", Intent.OTHER),
        ("", Intent.OTHER),
    ],
)
def test_guess_intent(text: str, intent: Intent):
    assert guess_intent(text) == intent


@pytest.mark.parametrize(
    ("text", "asks"),
    [
        ("quiero hablar con una persona", True),
        ("Quiero hablar con un humano ya", True),
        ("comunicarme con un asesor", True),
        ("no entiendes nada, quiero un agente", True),
        ("talk to a human", True),
        ("I want to speak to a representative", True),
        ("live agent", True),
        ("connect me with someone real", True),
        ("no quiero hablar con nadie", False),
        ("no quiero hablar con un humano, el bot está bien", False),
        ("I don't need a human", False),
        ("human resources", False),
        ("I work in human resources", False),
        ("recursos humanos", False),
        ("somos dos personas", False),
        ("una cita para una persona", False),
        ("hola", False),
    ],
)
def test_asks_for_human(text: str, asks: bool):
    assert asks_for_human(text) is asks


KEYWORDS = ("abogado", "demanda", "queja formal")


@pytest.mark.parametrize(
    ("text", "keywords", "hit"),
    [
        ("Quiero un ABOGADO!", KEYWORDS, "abogado"),
        ("voy a poner una  Queja  formal", KEYWORDS, "queja formal"),
        ("mi abogado pondrá una demanda", KEYWORDS, "abogado"),
        ("pondré una demanda con mi abogado", ("demanda", "abogado"), "demanda"),
        ("Demandá", KEYWORDS, "demanda"),
        ("URGENCIA", ("urgéncia",), "urgéncia"),
        ("abogados", KEYWORDS, None),
        ("queja", KEYWORDS, None),
        ("hola", KEYWORDS, None),
        ("abogado", (), None),
        ("abogado", ("  ",), None),
    ],
)
def test_keyword_hit(text: str, keywords: tuple[str, ...], hit: str | None):
    assert keyword_hit(text, keywords) == hit
