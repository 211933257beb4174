"""The assistant's per-tenant settings (`tenants.settings`): what each key means and accepts.

Operators type values on the command line; they are checked and turned into JSON values here,
so a bad value is refused when it is set rather than breaking the planner at a customer's turn.
The steps read the stored JSON through `parse_tenant_settings`, which applies the same checks:
one rule per key, whichever way the value came in.
"""

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from string import Formatter
from typing import Any, TypeVar

from domain.pacing import NUMBER_RATE, RECIPIENT_RATE, Rate

DEFAULT_QUIET_WINDOW_SECONDS = 2
DEFAULT_LOW_CONFIDENCE_THRESHOLD = 0.5
DEFAULT_REPLY_ALERT_MINUTES = 10
# Bounds: a value past them is a typo or a misunderstanding, never a business need. A customer
# waits out the quiet window before any answer.
MAX_QUIET_WINDOW_SECONDS = 600
# The inbox alerts agents to a customer waiting this long; a day is already no alert at all.
MAX_REPLY_ALERT_MINUTES = 1440
MAX_MONTHLY_TOKENS = 10_000_000_000
# A cent: below it the cap would be stored as 0.
MIN_MONTHLY_USD = Decimal("0.01")
MAX_MONTHLY_USD = 1_000_000
MAX_KEYWORDS = 100
MAX_KEYWORD_CHARS = 100
# The notice is a WhatsApp text (4,096 characters) once {name} is filled in.
MAX_HANDOFF_MESSAGE_CHARS = 1_000
# Pacing: Meta allows up to 1,000 messages a second per number; below one message an hour to a
# recipient, a reply would never arrive in time.
MIN_PER_SECOND = 1 / 3600
MAX_PER_SECOND = 1_000
MAX_BURST = 1_000
PACING_KINDS = ("number", "recipient")
# Who answers what a customer wrote while a person had the conversation, when it is returned.
ON_RETURN_ASSISTANT = "assistant"
ON_RETURN_PERSON = "person"
ON_RETURN_CHOICES = (ON_RETURN_ASSISTANT, ON_RETURN_PERSON)
# Meta's limit on template names.
MAX_TEMPLATE_NAME = 512
_TRUE = ("true", "yes", "on", "1")
_FALSE = ("false", "no", "off", "0")
_T = TypeVar("_T")
_D = TypeVar("_D")


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
    if not 0 <= seconds <= MAX_QUIET_WINDOW_SECONDS:
        raise ValueError(
            f"quiet_window_seconds must be 0 to {MAX_QUIET_WINDOW_SECONDS} seconds, not {raw}"
        )
    return _plain(seconds)


def _reply_alert(raw: str) -> int:
    try:
        minutes = int(raw)
    except ValueError:
        raise ValueError(f"reply_alert_minutes must be a whole number, not {raw!r}") from None
    if not 1 <= minutes <= MAX_REPLY_ALERT_MINUTES:
        raise ValueError(
            f"reply_alert_minutes must be 1 to {MAX_REPLY_ALERT_MINUTES} minutes, not {raw}"
        )
    return minutes


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
    if tokens > MAX_MONTHLY_TOKENS:
        raise ValueError(
            f"llm_monthly_token_cap must be at most {MAX_MONTHLY_TOKENS:_} tokens, not {raw}"
            " (unset it for no cap)"
        )
    return tokens


def _usd_cap(raw: str) -> int | float:
    amount = _number("llm_monthly_usd_cap", raw)
    if amount < MIN_MONTHLY_USD:
        raise ValueError(
            f"llm_monthly_usd_cap must be at least {MIN_MONTHLY_USD} USD, not {raw}"
            " (unset it for no cap)"
        )
    if amount > MAX_MONTHLY_USD:
        raise ValueError(
            f"llm_monthly_usd_cap must be at most {MAX_MONTHLY_USD:_} USD, not {raw}"
            " (unset it for no cap)"
        )
    return _plain(amount)


def _keywords(raw: str) -> list[str]:
    """A JSON list of texts, or texts separated by commas."""
    if raw.startswith("["):
        try:
            items = json.loads(raw)
        except json.JSONDecodeError as error:
            raise ValueError(f"handoff_keywords is not a valid JSON list: {error}") from None
        except RecursionError:
            raise ValueError("handoff_keywords is nested too deeply to be a list") from None
        if not all(isinstance(item, str) for item in items):
            raise ValueError("handoff_keywords must be a list of texts")
    else:
        items = raw.split(",")
    keywords = [item.strip() for item in items]
    if not keywords or not all(keywords):
        raise ValueError(
            "handoff_keywords must not contain an empty keyword (unset it to remove every keyword)"
        )
    if len(keywords) > MAX_KEYWORDS:
        raise ValueError(f"handoff_keywords may hold at most {MAX_KEYWORDS} keywords")
    too_long = next((k for k in keywords if len(k) > MAX_KEYWORD_CHARS), None)
    if too_long is not None:
        raise ValueError(
            f"handoff_keywords: {too_long[:20]!r}... is longer than {MAX_KEYWORD_CHARS} characters"
        )
    # Repeats would only make the list harder to read.
    return list(dict.fromkeys(keywords))


def _handoff_message(raw: str) -> str:
    if not raw:
        raise ValueError("handoff_message must not be empty (unset it for the built-in notice)")
    if len(raw) > MAX_HANDOFF_MESSAGE_CHARS:
        raise ValueError(
            f"handoff_message must be at most {MAX_HANDOFF_MESSAGE_CHARS} characters,"
            f" not {len(raw)}"
        )
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


def _json_object(key: str, raw: str) -> dict[str, Any]:
    try:
        value = json.loads(raw)
    except json.JSONDecodeError as error:
        raise ValueError(f"{key} is not valid JSON: {error}") from None
    except RecursionError:
        raise ValueError(f"{key} is nested too deeply to be a setting") from None
    if not isinstance(value, dict):
        raise ValueError(f"{key} must be a JSON object")
    return value


def _pacing(raw: str) -> dict[str, dict[str, int | float]]:
    """`{"number": {"per_second", "burst"}, "recipient": {...}}`; either kind may be left out."""
    value = _json_object("pacing", raw)
    unknown = sorted(set(value) - set(PACING_KINDS))
    if unknown or not value:
        raise ValueError(f"pacing takes the keys {' and '.join(PACING_KINDS)}, not {unknown}")
    return {kind: _rate(kind, value[kind]) for kind in PACING_KINDS if kind in value}


def _rate(kind: str, value: object) -> dict[str, int | float]:
    where = f"pacing.{kind}"
    if not isinstance(value, dict) or set(value) != {"per_second", "burst"}:
        raise ValueError(f"{where} must be an object with per_second and burst")
    per_second, burst = value["per_second"], value["burst"]
    if isinstance(per_second, bool) or not isinstance(per_second, int | float):
        raise ValueError(f"{where}.per_second must be a number")
    if not MIN_PER_SECOND <= per_second <= MAX_PER_SECOND:
        raise ValueError(
            f"{where}.per_second must be {MIN_PER_SECOND:.6f} (one an hour) to {MAX_PER_SECOND},"
            f" not {per_second}"
        )
    if isinstance(burst, bool) or not isinstance(burst, int) or not 1 <= burst <= MAX_BURST:
        raise ValueError(f"{where}.burst must be a whole number from 1 to {MAX_BURST}")
    return {"per_second": per_second, "burst": burst}


def _template(raw: str) -> dict[str, Any]:
    """`{"name", "language", "components"?}`: an approved template, as Meta's send API takes it."""
    value = _json_object("reengagement_template", raw)
    unknown = sorted(set(value) - {"name", "language", "components"})
    if unknown:
        raise ValueError(f"reengagement_template has unknown keys {unknown}")
    for key in ("name", "language"):
        text = value.get(key)
        if not isinstance(text, str) or not text.strip():
            raise ValueError(f"reengagement_template.{key} must be a non-empty text")
    if len(value["name"]) > MAX_TEMPLATE_NAME:
        raise ValueError(
            f"reengagement_template.name must be at most {MAX_TEMPLATE_NAME} characters"
        )
    components = value.get("components")
    if components is not None and not (
        isinstance(components, list) and all(isinstance(c, dict) for c in components)
    ):
        raise ValueError("reengagement_template.components must be a list of objects")
    return value


def _on_return(raw: str) -> str:
    word = raw.lower()
    if word not in ON_RETURN_CHOICES:
        raise ValueError(
            f"unanswered_on_return must be {' or '.join(ON_RETURN_CHOICES)}, not {raw!r}"
        )
    return word


def _flag(key: str) -> Callable[[str], bool]:
    def parse(raw: str) -> bool:
        word = raw.lower()
        if word in _TRUE:
            return True
        if word in _FALSE:
            return False
        raise ValueError(f"{key} must be true or false, not {raw!r}")

    return parse


_read_receipts = _flag("read_receipts")
_typing_indicator = _flag("typing_indicator")

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
            _read_receipts,
        ),
        SettingSpec(
            "typing_indicator",
            "show 'typing…' with the read receipt",
            "false",
            _typing_indicator,
        ),
        SettingSpec(
            "unanswered_on_return",
            "when a person returns a conversation, who answers what the customer wrote after the"
            " person's last message: assistant, or person (told so at the return)",
            ON_RETURN_ASSISTANT,
            _on_return,
        ),
        SettingSpec(
            "pacing",
            'send rates as JSON, {"number": {"per_second": 80, "burst": 80}, "recipient":'
            ' {"per_second": 0.1667, "burst": 5}}; either kind may be left out',
            "80/s per number; one per 6 s per recipient, bursts of 5",
            _pacing,
        ),
        SettingSpec(
            "reengagement_template",
            'approved template as JSON, {"name", "language", "components"?}, sent instead of a'
            " free-form message outside the 24-hour window",
            "none: such a message goes to a person",
            _template,
        ),
        SettingSpec(
            "reply_alert_minutes",
            "minutes a customer waits for a reply before the inbox alerts the agents",
            str(DEFAULT_REPLY_ALERT_MINUTES),
            _reply_alert,
        ),
    )
}


@dataclass(frozen=True)
class TenantSettings:
    """A tenant's settings, checked and typed; a key not set takes its default."""

    quiet_window_seconds: float = DEFAULT_QUIET_WINDOW_SECONDS
    handoff_keywords: tuple[str, ...] = ()
    low_confidence_threshold: float = DEFAULT_LOW_CONFIDENCE_THRESHOLD
    # None: the built-in notice in the customer's language.
    handoff_message: str | None = None
    # None: no cap.
    llm_monthly_token_cap: int | None = None
    llm_monthly_usd_cap: Decimal | None = None
    read_receipts: bool = False
    typing_indicator: bool = False
    # {"name", "language", "components"?}: sent instead of a free-form message outside the
    # 24-hour window; None: such a message goes to a person.
    reengagement_template: Mapping[str, Any] | None = field(default=None, hash=False)
    # `pacing.recipient` and `pacing.number`: Meta's limits unless the tenant sets its own.
    recipient_rate: Rate = RECIPIENT_RATE
    number_rate: Rate = NUMBER_RATE
    # Who answers what the customer wrote while a person had the conversation.
    unanswered_on_return: str = ON_RETURN_ASSISTANT
    # A customer waiting longer than this for a reply shows as an alert in the inbox.
    reply_alert_minutes: int = DEFAULT_REPLY_ALERT_MINUTES


def parse_tenant_settings(raw: Mapping[str, Any]) -> TenantSettings:
    """The typed value of stored settings; ValueError names the first invalid key.

    A stored value passes the check its command-line text would: the CLI and the steps never
    disagree on what a key accepts. Unknown keys are left for `describe_settings` to show.
    """
    pacing = _stored(raw, "pacing", _pacing, {})
    usd_cap = _stored(raw, "llm_monthly_usd_cap", _usd_cap, None)
    return TenantSettings(
        quiet_window_seconds=float(
            _stored(raw, "quiet_window_seconds", _quiet_window, DEFAULT_QUIET_WINDOW_SECONDS)
        ),
        handoff_keywords=tuple(_stored(raw, "handoff_keywords", _keywords, [])),
        low_confidence_threshold=_stored(
            raw, "low_confidence_threshold", _threshold, DEFAULT_LOW_CONFIDENCE_THRESHOLD
        ),
        handoff_message=_stored(raw, "handoff_message", _handoff_message, None),
        llm_monthly_token_cap=_stored(raw, "llm_monthly_token_cap", _token_cap, None),
        llm_monthly_usd_cap=None if usd_cap is None else Decimal(str(usd_cap)),
        read_receipts=_stored(raw, "read_receipts", _read_receipts, False),
        typing_indicator=_stored(raw, "typing_indicator", _typing_indicator, False),
        reengagement_template=_stored(raw, "reengagement_template", _template, None),
        recipient_rate=_as_rate(pacing.get("recipient"), RECIPIENT_RATE),
        number_rate=_as_rate(pacing.get("number"), NUMBER_RATE),
        unanswered_on_return=_stored(raw, "unanswered_on_return", _on_return, ON_RETURN_ASSISTANT),
        reply_alert_minutes=_stored(
            raw, "reply_alert_minutes", _reply_alert, DEFAULT_REPLY_ALERT_MINUTES
        ),
    )


def _stored(raw: Mapping[str, Any], key: str, parse: Callable[[str], _T], default: _D) -> _T | _D:
    """`key`'s stored value through the parser its command-line text goes through (SETTINGS)."""
    value = raw.get(key)
    return default if value is None else parse(_as_text(value))


def _as_text(value: Any) -> str:
    """The command-line text that stands for a stored JSON value."""
    return value if isinstance(value, str) else json.dumps(value)


def _as_rate(checked: Mapping[str, int | float] | None, default: Rate) -> Rate:
    if checked is None:
        return default
    return Rate(per_second=float(checked["per_second"]), burst=int(checked["burst"]))
