"""The assistant's per-tenant settings (`tenants.settings`): what each key means and accepts.

Operators type values on the command line; they are checked and turned into JSON values here,
so a bad value is refused when it is set rather than breaking the planner at a customer's turn.
"""

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from string import Formatter
from typing import Any

DEFAULT_QUIET_WINDOW_SECONDS = 2
DEFAULT_LOW_CONFIDENCE_THRESHOLD = 0.5
_TRUE = ("true", "yes", "on", "1")
_FALSE = ("false", "no", "off", "0")


@dataclass(frozen=True)
class SettingSpec:
    key: str
    meaning: str
    # What applies while the key is not set, in words.
    default: str
    parse: Callable[[str], object]


@dataclass(frozen=True)
class SettingView:
    key: str
    # The stored value as JSON text, or the default in words when `stored` is False.
    value: str
    stored: bool


def validate_setting(key: str, raw: str) -> object:
    """The JSON value to store for `key`, from its command-line text; ValueError says why not."""
    spec = SETTINGS.get(key)
    if spec is None:
        raise ValueError(f"unknown setting {key!r} (known: {', '.join(SETTINGS)})")
    return spec.parse(raw.strip())


def describe_settings(stored: Mapping[str, Any]) -> list[SettingView]:
    """Every known setting with its stored value or default, then any other stored keys."""
    views = [
        SettingView(key, _json(stored[key]), True)
        if key in stored
        else SettingView(key, spec.default, False)
        for key, spec in SETTINGS.items()
    ]
    views.extend(
        SettingView(key, _json(stored[key]), True) for key in stored if key not in SETTINGS
    )
    return views


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


def _number(key: str, raw: str) -> Decimal:
    try:
        number = Decimal(raw)
    except InvalidOperation:
        raise ValueError(f"{key} must be a number, not {raw!r}") from None
    if not number.is_finite():
        raise ValueError(f"{key} must be a finite number, not {raw!r}")
    return number


def _plain(number: Decimal) -> int | float:
    """JSON has no decimals: whole numbers stay whole."""
    return int(number) if number == number.to_integral_value() else float(number)


def _quiet_window(raw: str) -> int | float:
    seconds = _number("quiet_window_seconds", raw)
    if seconds < 0:
        raise ValueError(f"quiet_window_seconds must be 0 or more seconds, not {raw}")
    return _plain(seconds)


def _threshold(raw: str) -> float:
    number = _number("low_confidence_threshold", raw)
    if not 0 <= number <= 1:
        raise ValueError(f"low_confidence_threshold must be between 0 and 1, not {raw}")
    return float(number)


def _token_cap(raw: str) -> int:
    try:
        tokens = int(raw)
    except ValueError:
        raise ValueError(
            f"llm_monthly_token_cap must be a whole number of tokens, not {raw!r}"
        ) from None
    if tokens <= 0:
        raise ValueError(
            f"llm_monthly_token_cap must be above 0, not {tokens} (unset it for no cap)"
        )
    return tokens


def _usd_cap(raw: str) -> int | float:
    amount = _number("llm_monthly_usd_cap", raw)
    if amount <= 0:
        raise ValueError(f"llm_monthly_usd_cap must be above 0, not {raw} (unset it for no cap)")
    return _plain(amount)


def _keywords(raw: str) -> list[str]:
    """A JSON list of texts, or texts separated by commas."""
    if raw.startswith("["):
        try:
            items = json.loads(raw)
        except json.JSONDecodeError as error:
            raise ValueError(f"handoff_keywords is not a valid JSON list: {error}") from None
        if not all(isinstance(item, str) for item in items):
            raise ValueError("handoff_keywords must be a list of texts")
    else:
        items = raw.split(",")
    keywords = [item.strip() for item in items]
    if not keywords or not all(keywords):
        raise ValueError(
            "handoff_keywords must not contain an empty keyword (unset it to remove every keyword)"
        )
    # Repeats would only make the list harder to read.
    return list(dict.fromkeys(keywords))


def _handoff_message(raw: str) -> str:
    if not raw:
        raise ValueError("handoff_message must not be empty (unset it for the built-in notice)")
    try:
        fields = [field for _, field, _, _ in Formatter().parse(raw) if field is not None]
    except ValueError as error:
        raise ValueError(
            f"handoff_message: {error} (write {{{{ and }}}} for literal braces)"
        ) from None
    # The planner fills the template with the business name only; anything else fails there.
    unknown = [field for field in fields if field != "name"]
    if unknown:
        raise ValueError(
            f"handoff_message may contain only the {{name}} placeholder, not {{{unknown[0]}}}"
        )
    return raw


def _flag(key: str) -> Callable[[str], bool]:
    def parse(raw: str) -> bool:
        word = raw.lower()
        if word in _TRUE:
            return True
        if word in _FALSE:
            return False
        raise ValueError(f"{key} must be true or false, not {raw!r}")

    return parse


SETTINGS: Mapping[str, SettingSpec] = {
    spec.key: spec
    for spec in (
        SettingSpec(
            "quiet_window_seconds",
            "seconds of customer silence before the assistant answers a burst",
            str(DEFAULT_QUIET_WINDOW_SECONDS),
            _quiet_window,
        ),
        SettingSpec(
            "handoff_keywords",
            "words that hand the conversation to a person at once",
            "none",
            _keywords,
        ),
        SettingSpec(
            "low_confidence_threshold",
            "two answers in a row below this confidence hand the conversation off",
            str(DEFAULT_LOW_CONFIDENCE_THRESHOLD),
            _threshold,
        ),
        SettingSpec(
            "handoff_message",
            "notice sent to the customer at a hand-off; {name} is the business name",
            "built-in notice in the customer's language",
            _handoff_message,
        ),
        SettingSpec(
            "llm_monthly_token_cap",
            "model tokens per calendar month (UTC); above it the fallback responder answers",
            "no cap",
            _token_cap,
        ),
        SettingSpec(
            "llm_monthly_usd_cap",
            "model spend in USD per calendar month (UTC); above it the fallback responder answers",
            "no cap",
            _usd_cap,
        ),
        SettingSpec(
            "read_receipts",
            "mark inbound messages as read (blue ticks)",
            "false",
            _flag("read_receipts"),
        ),
        SettingSpec(
            "typing_indicator",
            "show 'typing…' with the read receipt",
            "false",
            _flag("typing_indicator"),
        ),
    )
}
