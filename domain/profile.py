"""The business profile: what the assistant may say about a tenant, and nothing more.

Stored as JSON in `tenants.profile`; parsed and validated here so a bad profile is refused with
a clear message when it is saved, not discovered by a customer.
"""

import difflib
import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, time
from decimal import Decimal, InvalidOperation
from typing import Any

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
LANGUAGES = ("es", "en")
PROFILE_KEYS = (
    "name", "tone", "timezone", "language", "services", "hours", "address", "phone", "faq",
    "policies",
)  # fmt: skip
SERVICE_KEYS = ("name", "price", "currency", "duration_minutes", "aliases", "description")
FAQ_KEYS = ("question", "answer")
# Low enough that "horario" finds "hours"; the known keys are listed as well, so a poor
# suggestion misleads no one.
_SUGGESTION_CUTOFF = 0.5
_SPAN = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)-([01]\d|2[0-4]):([0-5]\d)$")


class ProfileError(ValueError):
    """The business profile is invalid."""


@dataclass(frozen=True)
class Service:
    name: str
    # None: the price is not published; the assistant must not quote one.
    price: Decimal | None
    currency: str
    duration_minutes: int | None
    # Other ways customers name it ("limpieza", "cleaning").
    aliases: tuple[str, ...] = ()
    description: str | None = None


@dataclass(frozen=True)
class FaqEntry:
    question: str
    answer: str


@dataclass(frozen=True)
class BusinessProfile:
    name: str
    tone: str
    # IANA zone name; the caller turns it into a local `now` (zoneinfo reads files).
    timezone: str
    language: str
    services: tuple[Service, ...]
    # Weekday (0 = Monday) -> opening spans in local time; a missing day is closed.
    hours: Mapping[int, tuple[tuple[time, time], ...]]
    address: str | None
    phone: str | None
    faq: tuple[FaqEntry, ...]
    policies: tuple[str, ...]
    source: Mapping[str, Any]

    def service(self, name: str) -> Service | None:
        for service in self.services:
            if service.name == name:
                return service
        return None


def parse_profile(data: Mapping[str, Any], *, default_name: str) -> BusinessProfile:
    """A validated profile from its JSON form; ProfileError names the first problem found."""
    if not isinstance(data, Mapping):
        raise ProfileError("the profile must be a JSON object")
    name = _text(data.get("name", default_name), "name")
    language = data.get("language", "es")
    if language not in LANGUAGES:
        raise ProfileError(f"language must be one of {', '.join(LANGUAGES)}, not {language!r}")
    timezone = _text(data.get("timezone", "UTC"), "timezone")
    return BusinessProfile(
        name=name,
        tone=_text(data.get("tone", "friendly and concise"), "tone"),
        timezone=timezone,
        language=language,
        services=tuple(_service(i, s) for i, s in enumerate(_list(data, "services"))),
        hours=_hours(data.get("hours", {})),
        address=_optional_text(data.get("address"), "address"),
        phone=_optional_text(data.get("phone"), "phone"),
        faq=tuple(_faq(i, entry) for i, entry in enumerate(_list(data, "faq"))),
        policies=tuple(_text(p, f"policies[{i}]") for i, p in enumerate(_list(data, "policies"))),
        source=dict(data),
    )


def check_keys(data: Mapping[str, Any]) -> None:
    """ProfileError for the first key the profile does not know, with the closest known one.

    Checked when a profile is saved: an unknown key is a typo whose value would be ignored
    (`servicios` for `services` saves a profile without services).
    """
    if not isinstance(data, Mapping):
        raise ProfileError("the profile must be a JSON object")
    _known(data, PROFILE_KEYS, "")
    for key, known in (("services", SERVICE_KEYS), ("faq", FAQ_KEYS)):
        items = data.get(key)
        if isinstance(items, Sequence) and not isinstance(items, str):
            for index, item in enumerate(items):
                if isinstance(item, Mapping):
                    _known(item, known, f"{key}[{index}].")


def _known(data: Mapping[str, Any], known: Sequence[str], where: str) -> None:
    for key in data:
        if key in known:
            continue
        close = difflib.get_close_matches(str(key), known, n=1, cutoff=_SUGGESTION_CUTOFF)
        hint = f"did you mean {close[0]!r}? " if close else ""
        raise ProfileError(f"unknown key '{where}{key}' ({hint}known: {', '.join(known)})")


def profile_fingerprint(profile: BusinessProfile) -> str:
    """Changes whenever anything the assistant may say changes (cache scope, audit)."""
    canonical = json.dumps(profile.source, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:16]


def open_spans(profile: BusinessProfile, local_now: datetime) -> tuple[tuple[time, time], ...]:
    return profile.hours.get(local_now.weekday(), ())


def is_open(profile: BusinessProfile, local_now: datetime) -> bool:
    """Open at `local_now` (already in the tenant's time zone)?"""
    moment = local_now.time().replace(tzinfo=None)
    return any(start <= moment < end for start, end in open_spans(profile, local_now))


def _service(index: int, raw: Any) -> Service:
    where = f"services[{index}]"
    if not isinstance(raw, Mapping):
        raise ProfileError(f"{where} must be an object")
    price = raw.get("price")
    if price is not None:
        try:
            price = Decimal(str(price))
        except InvalidOperation:
            raise ProfileError(f"{where}.price must be a number, not {raw['price']!r}") from None
        if price < 0:
            raise ProfileError(f"{where}.price must not be negative")
    duration = raw.get("duration_minutes")
    if duration is not None and (not isinstance(duration, int) or duration <= 0):
        raise ProfileError(f"{where}.duration_minutes must be a positive whole number")
    aliases = raw.get("aliases", [])
    if not isinstance(aliases, Sequence) or isinstance(aliases, str):
        raise ProfileError(f"{where}.aliases must be a list of names")
    return Service(
        name=_text(raw.get("name"), f"{where}.name"),
        price=price,
        currency=_text(raw.get("currency", "USD"), f"{where}.currency"),
        duration_minutes=duration,
        aliases=tuple(_text(a, f"{where}.aliases") for a in aliases),
        description=_optional_text(raw.get("description"), f"{where}.description"),
    )


def _faq(index: int, raw: Any) -> FaqEntry:
    where = f"faq[{index}]"
    if not isinstance(raw, Mapping):
        raise ProfileError(f"{where} must be an object with question and answer")
    return FaqEntry(
        question=_text(raw.get("question"), f"{where}.question"),
        answer=_text(raw.get("answer"), f"{where}.answer"),
    )


def _hours(raw: Any) -> dict[int, tuple[tuple[time, time], ...]]:
    if not isinstance(raw, Mapping):
        raise ProfileError('hours must be an object such as {"mon": ["09:00-13:00"]}')
    hours: dict[int, tuple[tuple[time, time], ...]] = {}
    for day, spans in raw.items():
        if day not in WEEKDAYS:
            raise ProfileError(f"hours: unknown day {day!r} (use {', '.join(WEEKDAYS)})")
        if not isinstance(spans, Sequence) or isinstance(spans, str):
            raise ProfileError(f"hours.{day} must be a list of spans such as '09:00-13:00'")
        parsed = []
        for span in spans:
            match = _SPAN.match(span) if isinstance(span, str) else None
            if match is None:
                raise ProfileError(f"hours.{day}: {span!r} is not a span such as '09:00-13:00'")
            h1, m1, h2, m2 = (int(g) for g in match.groups())
            start = time(h1, m1)
            end = time.max if (h2, m2) == (24, 0) else time(h2 % 24, m2)
            if end <= start:
                raise ProfileError(f"hours.{day}: {span!r} ends before it starts")
            parsed.append((start, end))
        hours[WEEKDAYS.index(day)] = tuple(sorted(parsed))
    return hours


def _list(data: Mapping[str, Any], key: str) -> Sequence[Any]:
    value = data.get(key, [])
    if not isinstance(value, Sequence) or isinstance(value, str):
        raise ProfileError(f"{key} must be a list")
    return value


def _text(value: Any, where: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ProfileError(f"{where} must be a non-empty text")
    return value.strip()


def _optional_text(value: Any, where: str) -> str | None:
    return None if value is None else _text(value, where)
