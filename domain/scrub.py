"""Scrubbing of personal data from text bound for logs and error reports."""

import re
from typing import Any

# Phone numbers and wa_ids: runs of 7+ digits, optionally with a leading '+'.
_PHONE = re.compile(r"\+?\d[\d\s-]{5,}\d")
SCRUBBED_KEYS = frozenset({"text", "body", "caption", "profile_name", "phone_e164", "wa_id"})


def scrub_text(value: str) -> str:
    return _PHONE.sub(lambda m: _mask(m.group(0)), value)


def _mask(number: str) -> str:
    digits = re.sub(r"\D", "", number)
    return "[phone …" + digits[-2:] + "]"


def scrub(value: Any) -> Any:
    """Recursively mask phone numbers in strings and blank out keys that hold chat content."""
    if isinstance(value, str):
        return scrub_text(value)
    if isinstance(value, dict):
        return {
            key: "[scrubbed]" if key in SCRUBBED_KEYS else scrub(item)
            for key, item in value.items()
        }
    if isinstance(value, list | tuple):
        return [scrub(item) for item in value]
    return value
