"""Assistant settings: typed on the command line and turned into JSON values, or refused
clearly; read back by the steps as one typed value, by the same rules."""

from decimal import Decimal

import pytest

from domain.pacing import NUMBER_RATE, RECIPIENT_RATE, Rate
from domain.tenant_settings import (
    SETTINGS,
    SettingView,
    TenantSettings,
    describe_settings,
    parse_tenant_settings,
    validate_setting,
)


@pytest.mark.parametrize(
    ("key", "raw", "value"),
    [
        ("quiet_window_seconds", "5", 5),
        ("quiet_window_seconds", "0", 0),
        ("quiet_window_seconds", " 1.5 ", 1.5),
        ("low_confidence_threshold", "0.7", 0.7),
        ("low_confidence_threshold", "0", 0.0),
        ("low_confidence_threshold", "1", 1.0),
        ("handoff_keywords", "abogado, queja ,reembolso", ["abogado", "queja", "reembolso"]),
        ("handoff_keywords", '["lawyer", "refund"]', ["lawyer", "refund"]),
        ("handoff_keywords", "urgente", ["urgente"]),
        ("handoff_keywords", "queja,queja", ["queja"]),
        (
            "handoff_message",
            "Te atiende una persona de {name}.",
            "Te atiende una persona de {name}.",
        ),
        ("handoff_message", "A person will answer {{soon}}", "A person will answer {{soon}}"),
        ("llm_monthly_token_cap", "2000000", 2_000_000),
        ("llm_monthly_usd_cap", "25", 25),
        ("llm_monthly_usd_cap", "12.50", 12.5),
        ("read_receipts", "true", True),
        ("read_receipts", "OFF", False),
        ("typing_indicator", "yes", True),
        ("typing_indicator", "0", False),
        ("quiet_window_seconds", "600", 600),
        ("reply_alert_minutes", "1", 1),
        ("reply_alert_minutes", " 30 ", 30),
        ("reply_alert_minutes", "1440", 1440),
        ("llm_monthly_token_cap", "10000000000", 10_000_000_000),
        ("llm_monthly_usd_cap", "1000000", 1_000_000),
        (
            "pacing",
            '{"recipient": {"per_second": 0.5, "burst": 3}}',
            {"recipient": {"per_second": 0.5, "burst": 3}},
        ),
        (
            "pacing",
            '{"number": {"per_second": 1000, "burst": 1000}, "recipient": '
            '{"per_second": 0.0002778, "burst": 1}}',
            {
                "number": {"per_second": 1000, "burst": 1000},
                "recipient": {"per_second": 0.0002778, "burst": 1},
            },
        ),
        (
            "reengagement_template",
            '{"name": "hello_again", "language": "es_MX"}',
            {"name": "hello_again", "language": "es_MX"},
        ),
        (
            "reengagement_template",
            '{"name": "t", "language": "en", "components": [{"type": "body"}]}',
            {"name": "t", "language": "en", "components": [{"type": "body"}]},
        ),
    ],
)
def test_valid_values_become_json_values(key: str, raw: str, value: object) -> None:
    parsed = validate_setting(key, raw)

    assert parsed == value
    assert type(parsed) is type(value)
    # What the command line stores, the steps read.
    parse_tenant_settings({key: parsed})


@pytest.mark.parametrize(
    ("key", "raw", "message"),
    [
        ("quiet_window", "2", "unknown setting 'quiet_window'"),
        ("quiet_window_seconds", "-1", "quiet_window_seconds must be 0 to 600 seconds"),
        ("quiet_window_seconds", "soon", "quiet_window_seconds must be a number"),
        ("quiet_window_seconds", "inf", "must be a finite number"),
        ("quiet_window_seconds", "NaN", "must be a finite number"),
        ("low_confidence_threshold", "1.2", "between 0 and 1"),
        ("low_confidence_threshold", "-0.1", "between 0 and 1"),
        ("llm_monthly_token_cap", "0", "llm_monthly_token_cap must be above 0"),
        ("llm_monthly_token_cap", "-5", "must be above 0"),
        ("llm_monthly_token_cap", "1.5", "whole number of tokens"),
        ("llm_monthly_usd_cap", "0", "llm_monthly_usd_cap must be at least 0.01 USD"),
        ("llm_monthly_usd_cap", "ten", "llm_monthly_usd_cap must be a number"),
        ("handoff_keywords", "", "must not contain an empty keyword"),
        ("handoff_keywords", "a,,b", "must not contain an empty keyword"),
        ("handoff_keywords", '["a", 3]', "must be a list of texts"),
        ("handoff_keywords", '["a"', "not a valid JSON list"),
        ("handoff_message", "", "must not be empty"),
        ("handoff_message", "Hola {cliente}", "only the {name} placeholder, not {cliente}"),
        ("handoff_message", "Hola {0}", "only the {name} placeholder"),
        ("handoff_message", "Hola {name", "literal braces"),
        ("read_receipts", "maybe", "read_receipts must be true or false"),
        # Bounds: each setting refuses what is no business need (issue 10, section 3.3).
        ("quiet_window_seconds", "1e9", "quiet_window_seconds must be 0 to 600 seconds"),
        ("quiet_window_seconds", "600.5", "must be 0 to 600 seconds"),
        ("llm_monthly_token_cap", "10000000001", "at most 10_000_000_000 tokens"),
        ("llm_monthly_usd_cap", "1e7", "at most 1_000_000 USD"),
        ("llm_monthly_usd_cap", "1e-999999", "at least 0.01 USD"),
        ("pacing", "[" * 100_000, "nested too deeply"),
        ("handoff_keywords", "[" * 100_000, "nested too deeply"),
        ("handoff_keywords", ",".join(f"k{i}" for i in range(101)), "at most 100 keywords"),
        ("handoff_keywords", "x" * 101, "longer than 100 characters"),
        ("handoff_message", "x" * 1001, "at most 1000 characters"),
        ("pacing", "fast", "pacing is not valid JSON"),
        ("pacing", "[1]", "pacing must be a JSON object"),
        ("pacing", "{}", "pacing takes the keys number and recipient"),
        ("pacing", '{"sender": {"per_second": 1, "burst": 1}}', "not ['sender']"),
        ("pacing", '{"number": {"per_second": 1}}', "pacing.number must be an object with"),
        ("pacing", '{"number": {"per_second": 0, "burst": 1}}', "pacing.number.per_second must"),
        ("pacing", '{"number": {"per_second": 1e6, "burst": 1}}', "(one an hour) to 1000"),
        ("pacing", '{"number": {"per_second": "1", "burst": 1}}', "must be a number"),
        ("pacing", '{"recipient": {"per_second": 1, "burst": 0}}', "whole number from 1 to 1000"),
        ("pacing", '{"recipient": {"per_second": 1, "burst": 2.5}}', "whole number from 1"),
        ("reengagement_template", '"hello"', "must be a JSON object"),
        ("reengagement_template", '{"name": "t"}', "reengagement_template.language must be"),
        ("reengagement_template", '{"name": "", "language": "es"}', ".name must be a non-empty"),
        ("reengagement_template", '{"name": "t", "language": "es", "x": 1}', "unknown keys"),
        (
            "reengagement_template",
            '{"name": "t", "language": "es", "components": "body"}',
            "components must be a list of objects",
        ),
    ],
)
def test_bad_keys_and_values_are_refused_with_the_reason(key: str, raw: str, message: str) -> None:
    with pytest.raises(ValueError) as refused:
        validate_setting(key, raw)

    assert message in str(refused.value)


def test_a_value_accepted_here_is_one_the_planner_can_use() -> None:
    template = validate_setting("handoff_message", "{name}: una persona te responde")

    assert isinstance(template, str)
    assert template.format(name="Sonrisa") == "Sonrisa: una persona te responde"


def test_description_shows_stored_values_defaults_and_other_keys() -> None:
    views = describe_settings({"quiet_window_seconds": 4, "handoff_keywords": ["queja"], "x": 1})

    by_key = {view.key: view for view in views}
    assert [view.key for view in views] == [*SETTINGS, "x"]
    assert by_key["quiet_window_seconds"] == SettingView("quiet_window_seconds", "4", True)
    assert by_key["handoff_keywords"] == SettingView("handoff_keywords", '["queja"]', True)
    assert by_key["low_confidence_threshold"] == SettingView(
        "low_confidence_threshold", "0.5", False
    )
    assert by_key["llm_monthly_usd_cap"] == SettingView("llm_monthly_usd_cap", "no cap", False)
    assert by_key["x"] == SettingView("x", "1", True)


def test_no_settings_are_the_defaults() -> None:
    assert parse_tenant_settings({}) == TenantSettings()
    assert TenantSettings().quiet_window_seconds == 2
    assert TenantSettings().number_rate == NUMBER_RATE


@pytest.mark.parametrize(
    ("stored", "field", "value"),
    [
        ({"quiet_window_seconds": 0}, "quiet_window_seconds", 0.0),
        ({"quiet_window_seconds": 1.5}, "quiet_window_seconds", 1.5),
        ({"quiet_window_seconds": None}, "quiet_window_seconds", 2.0),
        ({"handoff_keywords": ["queja", "abogado"]}, "handoff_keywords", ("queja", "abogado")),
        ({"low_confidence_threshold": 0.7}, "low_confidence_threshold", 0.7),
        ({"handoff_message": "De {name}"}, "handoff_message", "De {name}"),
        ({"llm_monthly_token_cap": 1000}, "llm_monthly_token_cap", 1000),
        ({"llm_monthly_usd_cap": 12.5}, "llm_monthly_usd_cap", Decimal("12.5")),
        ({"llm_monthly_usd_cap": "7.25"}, "llm_monthly_usd_cap", Decimal("7.25")),
        ({"read_receipts": True}, "read_receipts", True),
        ({"typing_indicator": False}, "typing_indicator", False),
        ({"reply_alert_minutes": 45}, "reply_alert_minutes", 45),
        ({}, "reply_alert_minutes", 10),
        (
            {"reengagement_template": {"name": "hola", "language": "es_MX"}},
            "reengagement_template",
            {"name": "hola", "language": "es_MX"},
        ),
        ({"reengagement_template": None}, "reengagement_template", None),
        (
            {"pacing": {"recipient": {"per_second": 2, "burst": 1}}},
            "recipient_rate",
            Rate(per_second=2.0, burst=1),
        ),
        ({"pacing": {"number": {"per_second": 40, "burst": 40}}}, "recipient_rate", RECIPIENT_RATE),
        ({"pacing": None}, "number_rate", NUMBER_RATE),
        ({"someone_elses_key": [1, 2]}, "read_receipts", False),
    ],
)
def test_stored_values_become_typed_fields(stored: dict, field: str, value: object) -> None:
    assert getattr(parse_tenant_settings(stored), field) == value


@pytest.mark.parametrize(
    ("stored", "message"),
    [
        # Values the command line refuses, refused when read back too (the model's caps used
        # to accept a cap of 0 and refuse "1000", the CLI the opposite).
        ({"llm_monthly_token_cap": 0}, "llm_monthly_token_cap must be above 0"),
        ({"llm_monthly_token_cap": 10.5}, "llm_monthly_token_cap must be a whole number"),
        ({"llm_monthly_token_cap": True}, "llm_monthly_token_cap must be a whole number"),
        ({"llm_monthly_usd_cap": 0}, "llm_monthly_usd_cap must be at least 0.01 USD"),
        ({"llm_monthly_usd_cap": -5}, "llm_monthly_usd_cap must be at least 0.01 USD"),
        ({"llm_monthly_usd_cap": [10]}, "llm_monthly_usd_cap must be a number"),
        ({"llm_monthly_usd_cap": False}, "llm_monthly_usd_cap must be a number"),
        ({"llm_monthly_usd_cap": "NaN"}, "llm_monthly_usd_cap must be a finite number"),
        ({"llm_monthly_usd_cap": float("inf")}, "llm_monthly_usd_cap must be a finite number"),
        ({"quiet_window_seconds": -1}, "quiet_window_seconds must be 0 to 600 seconds"),
        ({"quiet_window_seconds": "soon"}, "quiet_window_seconds must be a number"),
        ({"low_confidence_threshold": 2}, "low_confidence_threshold must be between 0 and 1"),
        ({"handoff_keywords": ["a", 3]}, "handoff_keywords must be a list of texts"),
        ({"handoff_keywords": []}, "handoff_keywords must not contain an empty keyword"),
        ({"handoff_message": "Hola {cliente}"}, "handoff_message may contain only"),
        ({"read_receipts": "maybe"}, "read_receipts must be true or false"),
        ({"typing_indicator": 1.5}, "typing_indicator must be true or false"),
        ({"reply_alert_minutes": 0}, "reply_alert_minutes must be 1 to 1440 minutes"),
        ({"reply_alert_minutes": 1441}, "reply_alert_minutes must be 1 to 1440 minutes"),
        ({"reply_alert_minutes": 2.5}, "reply_alert_minutes must be a whole number"),
        ({"reply_alert_minutes": True}, "reply_alert_minutes must be a whole number"),
        # The same rules as `recado tenants settings set` (domain/tenant_settings.py SETTINGS).
        ({"reengagement_template": "hola"}, "reengagement_template is not valid JSON"),
        ({"reengagement_template": {"name": "hola"}}, "reengagement_template.language must be"),
        (
            {"reengagement_template": {"name": "a", "language": "es", "components": {}}},
            "reengagement_template.components must be a list of objects",
        ),
        ({"pacing": [1]}, "pacing must be a JSON object"),
        ({"pacing": {"user": {"per_second": 1, "burst": 1}}}, "not ['user']"),
        ({"pacing": {"number": None}}, "pacing.number must be an object with per_second and"),
        ({"pacing": {"number": 5}}, "pacing.number must be an object"),
        ({"pacing": {"number": {"per_second": 0, "burst": 1}}}, "pacing.number.per_second must"),
        (
            {"pacing": {"recipient": {"per_second": 1, "burst": 0.5}}},
            "pacing.recipient.burst must be a whole number from 1",
        ),
    ],
)
def test_invalid_stored_values_are_refused_by_key(stored: dict, message: str) -> None:
    with pytest.raises(ValueError) as refused:
        parse_tenant_settings(stored)

    assert message in str(refused.value)
