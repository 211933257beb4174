"""The admin pages in Spanish and English, and times in the tenant's time zone.

Templates and views write English text through `_()`; the Spanish catalogue maps each text to its
translation. One JSON file per area under webapp/translations/es/, merged at start-up, so areas
add their texts without touching each other's files; tests/webapp/admin/test_i18n.py fails for a
text with no Spanish entry.
"""

import json
from datetime import datetime
from functools import cache
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from flask import g

from db.tenants import Tenant

UI_LANGUAGES = ("es", "en")
DEFAULT_LANGUAGE = "es"
CATALOGUE_DIR = Path(__file__).resolve().parent.parent / "translations"


@cache
def catalogue(language: str) -> dict[str, str]:
    merged: dict[str, str] = {}
    for path in sorted((CATALOGUE_DIR / language).glob("*.json")):
        merged.update(json.loads(path.read_text(encoding="utf-8")))
    return merged


def page_language(user_language: str | None, tenant: Tenant | None) -> str:
    """The user's choice, else the tenant profile's language when the UI speaks it, else Spanish."""
    if user_language in UI_LANGUAGES:
        return user_language
    profile_language = (tenant.profile or {}).get("language") if tenant else None
    if profile_language in UI_LANGUAGES:
        return str(profile_language)
    return DEFAULT_LANGUAGE


def translate(text: str, language: str, **values: object) -> str:
    """`text` in `language`, with `{name}` placeholders filled from `values`."""
    translated = text if language == "en" else catalogue(language).get(text, text)
    return translated.format(**values) if values else translated


def _(text: str, **values: object) -> str:
    """`text` in the current request's language (g.language, set by the admin pages)."""
    return translate(text, g.get("language", DEFAULT_LANGUAGE), **values)


def tenant_zone(tenant: Tenant | None) -> ZoneInfo:
    name = (tenant.profile or {}).get("timezone", "UTC") if tenant else "UTC"
    try:
        return ZoneInfo(str(name))
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def local_time(moment: datetime | None, fmt: str = "%d/%m/%Y %H:%M") -> str:
    """`moment` in the current tenant's time zone (g.zone); empty for None."""
    if moment is None:
        return ""
    return moment.astimezone(g.get("zone", ZoneInfo("UTC"))).strftime(fmt)
