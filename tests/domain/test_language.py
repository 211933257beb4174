"""Language detection and text folding."""

import pytest

from domain.language import detect_language, fold


@pytest.mark.parametrize(
    ("texts", "default", "language"),
    [
        (["hola, quiero una cita para mañana"], "en", "es"),
        (["cuanto cuesta la limpieza"], "en", "es"),
        (["buenas tardes"], "en", "es"),
        (["¿Tienen lugar?"], "en", "es"),
        (["hi, I need an appointment for tomorrow"], "es", "en"),
        (["how much is a cleaning?"], "es", "en"),
        (["What time do you open on Saturday"], "es", "en"),
        (["I\u2019m John"], "es", "en"),
        # No signal, or as much of each: the tenant's language decides.
        (["ok"], "es", "es"),
        (["ok"], "en", "en"),
        (["👍"], "en", "en"),
        ([], "es", "es"),
        (["hola", "hello"], "en", "en"),
        (["hola", "hello"], "es", "es"),
        # Several messages count together.
        (["hi", "quiero una cita para el martes por favor"], "en", "es"),
        (["ok", "thanks, see you tomorrow"], "es", "en"),
    ],
)
def test_detect_language(texts: list[str], default: str, language: str):
    assert detect_language(texts, default) == language


@pytest.mark.parametrize(
    ("text", "folded"),
    [
        ("Miércoles", "miercoles"),
        ("MAÑANA", "manana"),
        ("¿Dónde están?", "¿donde estan?"),
        ("I\u2019m Zoë", "i'm zoe"),
        # Decomposed input (e + combining accent) folds like the composed one.
        ("cafe\u0301", "cafe"),
        ("", ""),
    ],
)
def test_fold(text: str, folded: str):
    assert fold(text) == folded


@pytest.mark.parametrize(
    "text", ["Miércoles a las 5", "ÁÉÍÓÚ Ñandú", "I\u2019m here", "plain ascii"]
)
def test_fold_keeps_one_character_per_character(text: str):
    assert len(fold(text)) == len(text)
