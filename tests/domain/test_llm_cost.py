"""Cost of a model call and the tenant's monthly caps."""

from decimal import Decimal

import pytest

from domain.llm_cost import PRICES, Caps, cap_reached, caps_from_settings, cost_usd, model_prices
from domain.tenant_settings import parse_tenant_settings


@pytest.mark.parametrize(
    ("model", "prices"),
    [
        ("gpt-4o-mini", ("0.15", "0.60")),
        ("gpt-4o-mini-2024-07-18", ("0.15", "0.60")),
        ("gpt-4o", ("2.50", "10.00")),
        ("gpt-4o-2024-08-06", ("2.50", "10.00")),
        ("gpt-4.1-mini", ("0.40", "1.60")),
        ("gpt-4.1-mini-2025-04-14", ("0.40", "1.60")),
        ("gpt-4.1", ("2.00", "8.00")),
        ("gpt-4.1-2025-04-14", ("2.00", "8.00")),
        ("gemini-2.0-flash", ("0.10", "0.40")),
        ("gemini-2.0-flash-001", ("0.10", "0.40")),
        # Self-hosted or unknown models cost nothing per token.
        ("llama3.1:8b", ("0", "0")),
        ("qwen2.5-7b-instruct", ("0", "0")),
        ("gpt-4oo", ("0", "0")),
        ("", ("0", "0")),
    ],
)
def test_model_prices(model: str, prices: tuple[str, str]):
    assert model_prices(model) == (Decimal(prices[0]), Decimal(prices[1]))


def test_table_holds_the_documented_models():
    assert set(PRICES) == {"gpt-4o-mini", "gpt-4o", "gpt-4.1-mini", "gpt-4.1", "gemini-2.0-flash"}


@pytest.mark.parametrize(
    ("model", "prompt", "completion", "input_price", "output_price", "cost"),
    [
        ("gpt-4o-mini", 1_000_000, 1_000_000, None, None, "0.750000"),
        ("gpt-4o-mini", 1200, 80, None, None, "0.000228"),
        ("gpt-4o-mini-2024-07-18", 1200, 80, None, None, "0.000228"),
        ("gpt-4o", 1200, 80, None, None, "0.003800"),
        ("gpt-4.1", 2000, 150, None, None, "0.005200"),
        ("gemini-2.0-flash", 3, 1, None, None, "0.000001"),
        ("gpt-4o-mini", 0, 0, None, None, "0.000000"),
        ("llama3.1:8b", 50_000, 5_000, None, None, "0.000000"),
        # Explicit prices win over the table, each on its own.
        ("llama3.1:8b", 1_000_000, 500_000, Decimal("0.05"), Decimal("0.10"), "0.100000"),
        ("gpt-4o", 1_000_000, 1_000_000, Decimal("1"), None, "11.000000"),
        ("gpt-4o", 1_000_000, 1_000_000, None, Decimal("0"), "2.500000"),
    ],
)
def test_cost_usd(
    model: str,
    prompt: int,
    completion: int,
    input_price: Decimal | None,
    output_price: Decimal | None,
    cost: str,
):
    result = cost_usd(model, prompt, completion, input_price=input_price, output_price=output_price)
    assert result == Decimal(cost)
    assert str(result) == cost


def test_negative_tokens_are_refused():
    with pytest.raises(ValueError, match="must not be negative"):
        cost_usd("gpt-4o", -1, 0, input_price=None, output_price=None)


@pytest.mark.parametrize(
    ("settings", "caps"),
    [
        ({}, Caps(None, None)),
        ({"llm_monthly_token_cap": None, "llm_monthly_usd_cap": None}, Caps(None, None)),
        ({"llm_monthly_token_cap": 2_000_000}, Caps(2_000_000, None)),
        ({"llm_monthly_usd_cap": 25}, Caps(None, Decimal("25"))),
        ({"llm_monthly_usd_cap": 12.5}, Caps(None, Decimal("12.5"))),
        ({"llm_monthly_usd_cap": "7.25"}, Caps(None, Decimal("7.25"))),
        (
            {"llm_monthly_token_cap": 1000, "llm_monthly_usd_cap": "0.5", "other": "x"},
            Caps(1000, Decimal("0.5")),
        ),
    ],
)
def test_caps_from_settings(settings: dict, caps: Caps):
    assert caps_from_settings(parse_tenant_settings(settings)) == caps


@pytest.mark.parametrize(
    ("caps", "tokens", "usd", "reason"),
    [
        (Caps(None, None), 10**12, Decimal("10000"), None),
        (Caps(1_000_000, None), 999_999, Decimal("0"), None),
        (
            Caps(1_000_000, None),
            1_000_000,
            Decimal("0"),
            "monthly token cap reached: 1,000,000 of 1,000,000 tokens used",
        ),
        (
            Caps(1_000_000, None),
            1_234_567,
            Decimal("0"),
            "monthly token cap reached: 1,234,567 of 1,000,000 tokens used",
        ),
        (Caps(None, Decimal("10")), 10**9, Decimal("9.999999"), None),
        (
            Caps(None, Decimal("10.00")),
            0,
            Decimal("10.000001"),
            "monthly spend cap reached: 10.000001 of 10.00 USD used",
        ),
        # A cap of zero turns the model off for the tenant.
        (Caps(0, None), 0, Decimal("0"), "monthly token cap reached: 0 of 0 tokens used"),
        (
            Caps(5_000, Decimal("1")),
            6_000,
            Decimal("2"),
            "monthly token cap reached: 6,000 of 5,000 tokens used",
        ),
        (
            Caps(5_000, Decimal("1")),
            100,
            Decimal("1"),
            "monthly spend cap reached: 1 of 1 USD used",
        ),
    ],
)
def test_cap_reached(caps: Caps, tokens: int, usd: Decimal, reason: str | None):
    assert cap_reached(caps, tokens_used=tokens, usd_used=usd) == reason
