"""Canned reply variables, template checks and payloads, the window's time left."""

from datetime import UTC, datetime, timedelta

from domain.compose import (
    canned_values,
    fill_canned,
    parameter_problem,
    template_payload,
    template_problem,
    template_text,
)
from domain.window import window_left

NOW = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)


def test_canned_variables_come_from_the_lead_then_the_profile_name():
    values = canned_values("Ana María López", "ana_wa", "Clínica Sonrisa")
    assert fill_canned("Hola {first_name} ({name}), {business} {other}", values) == (
        "Hola Ana (Ana María López), Clínica Sonrisa {other}"
    )
    assert canned_values(None, "Luis", "X")["first_name"] == "Luis"
    assert fill_canned("Hola {name}", canned_values(None, None, "X")) == "Hola "


def test_a_template_numbers_its_placeholders_from_one_and_names_each():
    assert template_problem("cita", "es", "Hola {{1}}, el {{2}}", ["nombre", "fecha"]) is None
    assert template_problem("cita", "en_US", "Hola", []) is None
    assert template_problem("Cita", "es", "Hola", []) == "name"
    assert template_problem("cita", "Spanish", "Hola", []) == "language"
    assert template_problem("cita", "es", " ", []) == "body"
    assert template_problem("cita", "es", "{{1}} {{3}}", ["a", "b"]) == "placeholders"
    assert template_problem("cita", "es", "{{1}}", []) == "parameters"
    assert template_problem("cita", "es", "{{1}}", [" "]) == "parameters"


def test_template_text_and_payload():
    assert template_text("Hola {{1}}, el {{ 2 }}. {{3}}", ["Ana", "lunes"]) == (
        "Hola Ana, el lunes. {{3}}"
    )
    assert template_payload("cita", "es", []) == {"name": "cita", "language": "es"}
    assert template_payload("cita", "es", ["Ana"])["components"] == [
        {"type": "body", "parameters": [{"type": "text", "text": "Ana"}]}
    ]


def test_parameters_meta_refuses():
    assert not parameter_problem("lunes 9:00")
    assert parameter_problem("")
    assert parameter_problem("dos\nlíneas")
    assert parameter_problem("tab\there")
    assert parameter_problem("cinco     espacios")
    assert parameter_problem("x" * 1025)


def test_the_window_left():
    assert window_left(None, NOW) is None
    assert window_left(NOW - timedelta(hours=1), NOW) == timedelta(hours=23)
    assert window_left(NOW - timedelta(hours=24), NOW) is None
