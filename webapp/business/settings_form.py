"""The assistant settings as a form: each key's text as the CLI takes it, checked by the same
`validate_setting`, so the page and `recado tenants settings set` accept exactly the same values."""

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from domain import tenant_settings as rules
from domain.tenant_settings import ON_RETURN_CHOICES, SETTINGS, validate_setting
from webapp.admin.i18n import _

# Keys with a few possible values get a menu; the structured ones a text area.
CHOICES: Mapping[str, tuple[str, ...]] = {
    "read_receipts": ("true", "false"),
    "typing_indicator": ("true", "false"),
    "unanswered_on_return": ON_RETURN_CHOICES,
}
MULTILINE = frozenset({"handoff_keywords", "handoff_message", "pacing", "reengagement_template"})


@dataclass(frozen=True)
class SettingField:
    key: str
    meaning: str
    default: str
    # What the field holds: the stored value as the CLI would take it, or what was submitted.
    text: str
    stored: bool
    # What the key accepts, in words (from the limits validate_setting enforces).
    accepts: str
    choices: tuple[str, ...]
    multiline: bool
    error: str | None


@dataclass(frozen=True)
class Submission:
    # Key -> the value to store; None: unset it (its default applies again).
    changes: dict[str, object]
    errors: dict[str, str]
    texts: dict[str, str]


def as_text(value: Any) -> str:
    """A stored value as the text the form (and the CLI) takes back."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list) and all(isinstance(v, str) and "," not in v for v in value):
        return ", ".join(value)
    return json.dumps(value, ensure_ascii=False)


def fields(
    stored: Mapping[str, Any],
    texts: Mapping[str, str] | None = None,
    errors: Mapping[str, str] | None = None,
) -> list[SettingField]:
    """Every known setting, with the submitted text when the form comes back with errors."""
    return [
        SettingField(
            key=key,
            meaning=spec.meaning,
            default=spec.default,
            text=(texts or {}).get(key, as_text(stored[key]) if key in stored else ""),
            stored=key in stored,
            accepts=accepts(key),
            choices=CHOICES.get(key, ()),
            multiline=key in MULTILINE,
            error=(errors or {}).get(key),
        )
        for key, spec in SETTINGS.items()
    ]


def accepts(key: str) -> str:
    """The bounds of `key` in the page's language, from the constants its check uses."""
    words = {
        "quiet_window_seconds": lambda: _(
            "0 to {max} seconds.", max=rules.MAX_QUIET_WINDOW_SECONDS
        ),
        "handoff_keywords": lambda: _(
            "Up to {count} keywords of up to {chars} characters, comma-separated or a JSON list.",
            count=rules.MAX_KEYWORDS,
            chars=rules.MAX_KEYWORD_CHARS,
        ),
        "low_confidence_threshold": lambda: _("A number from 0 to 1."),
        "handoff_message": lambda: _(
            "At most {chars} characters; {{name}} is the only placeholder.",
            chars=rules.MAX_HANDOFF_MESSAGE_CHARS,
        ),
        "llm_monthly_token_cap": lambda: _(
            "A whole number from 1 to {max}; empty: no cap.", max=f"{rules.MAX_MONTHLY_TOKENS:,}"
        ),
        "llm_monthly_usd_cap": lambda: _(
            "{min} to {max} USD; empty: no cap.",
            min=rules.MIN_MONTHLY_USD,
            max=f"{rules.MAX_MONTHLY_USD:,}",
        ),
        "read_receipts": lambda: _("true or false."),
        "typing_indicator": lambda: _("true or false."),
        "unanswered_on_return": lambda: _("assistant or person."),
        "pacing": lambda: _(
            "per_second from one an hour ({min:.6f}) to {max}; burst from 1 to {burst}.",
            min=rules.MIN_PER_SECOND,
            max=rules.MAX_PER_SECOND,
            burst=rules.MAX_BURST,
        ),
        "reengagement_template": lambda: _(
            "name (at most {chars} characters) and language are required.",
            chars=rules.MAX_TEMPLATE_NAME,
        ),
    }
    word = words.get(key)
    return word() if word is not None else ""


def read_submission(form: Mapping[str, str], stored: Mapping[str, Any]) -> Submission:
    """What the form asks to change; an empty field unsets its key. Keys not in the form are
    left alone."""
    changes: dict[str, object] = {}
    errors: dict[str, str] = {}
    texts: dict[str, str] = {}
    for key in SETTINGS:
        raw = form.get(key)
        if raw is None:
            continue
        # Browsers send text area lines as CRLF; stored texts use LF.
        text = raw.replace("\r\n", "\n").strip()
        texts[key] = text
        if not text:
            if key in stored:
                changes[key] = None
            continue
        try:
            value = validate_setting(key, text)
        except ValueError as error:
            errors[key] = str(error)
            continue
        if key not in stored or stored[key] != value:
            changes[key] = value
    return Submission(changes=changes, errors=errors, texts=texts)
