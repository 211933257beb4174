"""What the simulated model says: the business's own facts, read back from recado's prompt.

A real model reads the system message and answers from its facts; so does the simulator. It reads
the facts as domain/prompts.py renders them (name, tone, language, services, hours, address,
FAQ, the local clock), rebuilds the profile and answers as the deterministic responder would
(domain/fallback.py): prices, hours, address and FAQ answers in the customer's language, "usted"
or "tú" as the tone says. When the customer asks nothing the profile covers, it offers what it
can tell. Deterministic: the same prompt always gets the same answer.
"""

import re
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from domain.conversation import Extraction, Intent
from domain.extraction import extract
from domain.fallback import answer_from_profile, fallback_reply
from domain.profile import WEEKDAYS, BusinessProfile, ProfileError, parse_profile
from domain.tone import is_formal

_RECEPTIONIST = re.compile(r"^You are the WhatsApp receptionist of (.+) \(prompt [^)]*\)\.$", re.M)
_TONE = re.compile(r"^Tone: (.*)\.$", re.M)
_ANSWER_IN = re.compile(r"^- Answer in (\w+),", re.M)
_NOW = re.compile(r"^Now: \w+ (\d{4}-\d\d-\d\d \d\d:\d\d) \(([^)]+)\)", re.M)
_SERVICE = re.compile(
    r"^- (?P<name>.+?): (?:(?P<price>\d+(?:\.\d+)?) (?P<currency>\S+)|price on request)"
    r"(?:, (?P<minutes>\d+) min)?(?: \(also called: (?P<aliases>.*?)\))?(?:\. (?P<about>.*))?$"
)
_DAY = re.compile(r"^- (Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday): (.*)$")
_DAY_NAMES = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_LANGUAGES = {"Spanish": "es", "English": "en"}
_SECTIONS = {
    "Services:": "services",
    "Opening hours (local time):": "hours",
    "Frequently asked questions:": "faq",
    "Policies:": "policies",
}
# Only the services are read from an extraction here; the date it is relative to does not matter.
_ANY_DAY = datetime(2000, 1, 1)
# What the model offers when nothing the customer wrote is covered by the profile.
_EN_OFFER = (
    "Hello! This is {name}'s assistant. How can I help? I can tell you our prices, opening hours"
    " and address."
)
_OFFERS = {
    ("es", False): "¡Hola! Soy el asistente de {name}. ¿En qué te puedo ayudar? Puedo darte"
    " precios, horarios y nuestra dirección.",
    ("es", True): "¡Hola! Soy el asistente de {name}. ¿En qué le puedo ayudar? Puedo darle"
    " precios, horarios y nuestra dirección.",
    ("en", False): _EN_OFFER,
    ("en", True): _EN_OFFER,
}


def profile_reply(system: str, texts: Sequence[str], intent: Intent) -> str | None:
    """The reply to `texts` from the profile in `system`; None when it holds no profile."""
    read = read_prompt(system)
    if read is None:
        return None
    profile, language, local_now = read
    text = "\n".join(texts)
    services = extract(text, now=local_now or _ANY_DAY, services=profile.services).services
    details: dict[str, Any] = {
        "profile": profile,
        "text": text,
        "extraction": Extraction(services=services),
        "intent": intent,
        "language": language,
        "local_now": local_now,
    }
    if intent in (Intent.GREETING, Intent.OTHER) and not answer_from_profile(**details).lines:
        return _OFFERS[(language, is_formal(profile))].format(name=profile.name)
    return fallback_reply(**details)


def read_prompt(system: str) -> tuple[BusinessProfile, str, datetime | None] | None:
    """(profile, customer's language, local time or None) from a recado system message."""
    receptionist = _RECEPTIONIST.search(system)
    if receptionist is None or "\nBusiness facts:\n" not in system:
        return None
    answer_in = _ANSWER_IN.search(system)
    tone = _TONE.search(system)
    now = _NOW.search(system)
    facts = system.split("\nBusiness facts:\n", 1)[1].split("\n\n", 1)[0]
    data: dict[str, Any] = {
        "name": receptionist.group(1),
        "services": [],
        "hours": {},
        "faq": [],
        "policies": [],
    }
    if tone is not None:
        data["tone"] = tone.group(1)
    if now is not None:
        data["timezone"] = now.group(2)
    # The customer's language; the profile's own only matters when that one is unknown.
    language = _LANGUAGES.get(answer_in.group(1), "es") if answer_in else "es"
    data["language"] = language
    _read_facts(facts.splitlines(), data)
    try:
        profile = parse_profile(data, default_name=receptionist.group(1))
    except ProfileError:
        return None
    local_now = datetime.strptime(now.group(1), "%Y-%m-%d %H:%M") if now else None
    return profile, language, local_now


def _read_facts(lines: Sequence[str], data: dict[str, Any]) -> None:
    section = None
    for line in lines:
        if line in _SECTIONS:
            section = _SECTIONS[line]
            continue
        key, _, value = line.partition(": ")
        if not line.startswith("- ") and key in ("Name", "Address", "Phone"):
            section = None
            if value != "not listed" and key != "Name":
                data[key.lower()] = value
            continue
        if section == "services":
            _read_service(line, data)
        elif section == "hours":
            _read_day(line, data)
        elif section == "faq" and line.startswith("- Q: ") and " A: " in line:
            question, _, answer = line.removeprefix("- Q: ").partition(" A: ")
            data["faq"].append({"question": question, "answer": answer})
        elif section == "policies" and line.startswith("- "):
            data["policies"].append(line.removeprefix("- "))


def _read_service(line: str, data: dict[str, Any]) -> None:
    match = _SERVICE.match(line)
    if match is None:  # "- none listed"
        return
    service: dict[str, Any] = {
        "name": match["name"],
        "price": match["price"],
        "currency": match["currency"] or "USD",
        "duration_minutes": int(match["minutes"]) if match["minutes"] else None,
        "aliases": match["aliases"].split(", ") if match["aliases"] else [],
        "description": match["about"],
    }
    data["services"].append(service)


def _read_day(line: str, data: dict[str, Any]) -> None:
    match = _DAY.match(line)
    if match is None or match[2] == "closed":
        return
    data["hours"][WEEKDAYS[_DAY_NAMES.index(match[1])]] = match[2].split(", ")
