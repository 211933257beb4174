"""What a model call costs, and the monthly caps a tenant may set on its assistant.

PRICES holds list prices in USD per million input and output tokens for well-known hosted
models; a dated variant ("gpt-4o-mini-2024-07-18") takes its family's price. A model not in the
table (a self-hosted vLLM or Ollama model) costs nothing per token: its cost is 0 unless the
deployment sets explicit prices.
"""

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal

from domain.tenant_settings import TenantSettings

PRICES: Mapping[str, tuple[Decimal, Decimal]] = {
    "gpt-4o-mini": (Decimal("0.15"), Decimal("0.60")),
    "gpt-4o": (Decimal("2.50"), Decimal("10.00")),
    "gpt-4.1-mini": (Decimal("0.40"), Decimal("1.60")),
    "gpt-4.1": (Decimal("2.00"), Decimal("8.00")),
    "gemini-2.0-flash": (Decimal("0.10"), Decimal("0.40")),
}
_FREE = (Decimal(0), Decimal(0))
_PER_TOKEN = Decimal(1_000_000)
_MICRODOLLAR = Decimal("0.000001")


def model_prices(model: str) -> tuple[Decimal, Decimal]:
    """Input and output USD per million tokens; the longest matching family wins."""
    matches = [name for name in PRICES if model == name or model.startswith(f"{name}-")]
    return PRICES[max(matches, key=len)] if matches else _FREE


def cost_usd(
    model: str,
    prompt_tokens: int,
    completion_tokens: int,
    *,
    input_price: Decimal | None,
    output_price: Decimal | None,
) -> Decimal:
    """The call's cost in USD to 6 decimals; explicit per-million prices override the table."""
    if prompt_tokens < 0 or completion_tokens < 0:
        raise ValueError("token counts must not be negative")
    table_input, table_output = model_prices(model)
    per_input = table_input if input_price is None else input_price
    per_output = table_output if output_price is None else output_price
    total = (prompt_tokens * per_input + completion_tokens * per_output) / _PER_TOKEN
    return total.quantize(_MICRODOLLAR)


@dataclass(frozen=True)
class Caps:
    """A tenant's monthly limits on its assistant; None means no limit."""

    monthly_tokens: int | None
    monthly_usd: Decimal | None


def caps_from_settings(settings: TenantSettings) -> Caps:
    """The caps a tenant set (llm_monthly_token_cap, llm_monthly_usd_cap)."""
    return Caps(settings.llm_monthly_token_cap, settings.llm_monthly_usd_cap)


def cap_reached(caps: Caps, *, tokens_used: int, usd_used: Decimal) -> str | None:
    """Why no further call may be made this month, or None while under every cap."""
    if caps.monthly_tokens is not None and tokens_used >= caps.monthly_tokens:
        return f"monthly token cap reached: {tokens_used:,} of {caps.monthly_tokens:,} tokens used"
    if caps.monthly_usd is not None and usd_used >= caps.monthly_usd:
        return f"monthly spend cap reached: {usd_used} of {caps.monthly_usd} USD used"
    return None
