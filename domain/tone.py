"""How the business addresses its customers: Spanish has a formal "usted" and a familiar "tú".

The profile's `tone` is free text written by the owner ("amable y breve; trata de usted"); fixed
texts the assistant sends on its own (the hand-off notice, the fallback's lines) follow it.
"""

import re
import unicodedata

from domain.profile import BusinessProfile

# The owner's own words for either; the first one named wins ("de usted, nunca de tú").
_FORMAL_OR_FAMILIAR = re.compile(r"\b(?:(usted|ustedes|formal)|(tu|tutea|tutear|tuteo|informal))\b")

HANDOFF_NOTICES = {
    ("es", False): "Gracias por tu mensaje. Te comunico con una persona de {name}; te responderá"
    " en breve.",
    ("es", True): "Gracias por su mensaje. Le comunico con una persona de {name}; le responderá"
    " en breve.",
    ("en", False): "Thanks for your message. A person from {name} will take it from here shortly.",
    ("en", True): "Thanks for your message. A person from {name} will take it from here shortly.",
}


def is_formal(profile: BusinessProfile) -> bool:
    """Whether the tone asks for "usted"; without a word on it, the familiar "tú"."""
    decomposed = unicodedata.normalize("NFKD", profile.tone.casefold())
    folded = "".join(c for c in decomposed if not unicodedata.combining(c))
    named = _FORMAL_OR_FAMILIAR.search(folded)
    return named is not None and named.group(1) is not None


def handoff_notice(profile: BusinessProfile, language: str) -> str:
    """The built-in notice sent at a hand-off, in the customer's language and the profile's tone.

    `{name}` stays a placeholder, as in a tenant's own `handoff_message`.
    """
    lang = language if (language, False) in HANDOFF_NOTICES else profile.language
    return HANDOFF_NOTICES[(lang, is_formal(profile))]
