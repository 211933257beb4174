"""The business profile as a form: plain fields for the simple keys, one field per weekday for
the hours, JSON for the services and FAQ. What it builds is checked by domain.profile, the rules
`recado tenants profile set` applies, plus the time zone's existence (zoneinfo)."""

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from domain.profile import (
    WEEKDAYS,
    BusinessProfile,
    ProfileError,
    check_keys,
    parse_profile,
)

TEXT_FIELDS = ("name", "tone", "timezone", "address", "phone")
JSON_FIELDS = ("services", "faq")
# The field an error of domain.profile is about, from the path its message starts with.
_PATH = re.compile(r"^(?:unknown key ')?(hours\.\w+|\w+)")


@dataclass(frozen=True)
class Submission:
    # The profile to save; None when the form has errors.
    profile: dict[str, Any] | None
    parsed: BusinessProfile | None
    # Field name (as in the form) -> message; "" for one about the whole profile.
    errors: dict[str, str]
    values: dict[str, str]


def form_values(profile: Mapping[str, Any] | None, default_name: str) -> dict[str, str]:
    """The form's fields filled from a stored profile (or a blank one)."""
    data = profile or {"name": default_name, "language": "es"}
    values = {key: str(data.get(key) or "") for key in TEXT_FIELDS}
    values["language"] = str(data.get("language", "es"))
    hours = data.get("hours") or {}
    for day in WEEKDAYS:
        spans = hours.get(day) if isinstance(hours, Mapping) else None
        values[f"hours.{day}"] = ", ".join(str(s) for s in spans or ())
    for key in JSON_FIELDS:
        items = data.get(key)
        values[key] = json.dumps(items, ensure_ascii=False, indent=2) if items else ""
    policies = data.get("policies") or []
    values["policies"] = "\n".join(str(p) for p in policies)
    return values


def read_submission(form: Mapping[str, str], default_name: str) -> Submission:
    values = {key: form.get(key, "").replace("\r\n", "\n").strip() for key in _field_names()}
    errors: dict[str, str] = {}
    data: dict[str, Any] = {key: values[key] for key in ("name", "tone", "timezone")}
    data["language"] = values["language"]
    for key in ("address", "phone"):
        if values[key]:
            data[key] = values[key]
    hours = {
        day: [span.strip() for span in values[f"hours.{day}"].split(",") if span.strip()]
        for day in WEEKDAYS
        if values[f"hours.{day}"]
    }
    policies = [line.strip() for line in values["policies"].splitlines() if line.strip()]
    lists = {key: _json_list(key, values[key], errors) for key in JSON_FIELDS}
    # An empty list is left out, as a profile written by hand leaves it out.
    for key, value in (("hours", hours), *lists.items(), ("policies", policies)):
        if value not in ([], {}):
            data[key] = value
    if errors:
        return Submission(None, None, errors, values)
    try:
        check_keys(data)
        parsed = parse_profile(data, default_name=default_name)
    except ProfileError as error:
        return Submission(None, None, {_field_of(str(error)): str(error)}, values)
    try:
        ZoneInfo(parsed.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        message = (
            f"unknown time zone {parsed.timezone!r} (use an IANA name such as America/Mexico_City)"
        )
        return Submission(None, None, {"timezone": message}, values)
    return Submission(data, parsed, {}, values)


def _field_names() -> tuple[str, ...]:
    return (
        *TEXT_FIELDS,
        "language",
        *(f"hours.{day}" for day in WEEKDAYS),
        *JSON_FIELDS,
        "policies",
    )


def _json_list(key: str, text: str, errors: dict[str, str]) -> Any:
    """The field's JSON (parse_profile checks it is a list), or [] with the error noted."""
    if not text:
        return []
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        errors[key] = f"{key} is not valid JSON: {error}"
    except RecursionError:
        errors[key] = f"{key} is nested too deeply"
    return []


def _field_of(message: str) -> str:
    """The form field a domain.profile message is about; "" when none (the whole profile)."""
    match = _PATH.match(message)
    if match is None:
        return ""
    path = match.group(1)
    if path.startswith("hours."):
        return path if path in {f"hours.{day}" for day in WEEKDAYS} else "hours"
    known = (*TEXT_FIELDS, "language", *JSON_FIELDS, "policies", "hours")
    return path if path in known else ""
