"""What an agent composes: canned replies with variables, approved templates with parameters."""

import re
from collections.abc import Mapping, Sequence
from typing import Any

# The variables a canned reply may use; anything else in braces stays as written.
CANNED_VARIABLES = ("name", "first_name", "business")
_CANNED = re.compile(r"\{(" + "|".join(CANNED_VARIABLES) + r")\}")
# Meta numbers a template's body parameters {{1}}, {{2}}, ... in order.
_PLACEHOLDER = re.compile(r"\{\{\s*(\d+)\s*\}\}")
TEMPLATE_NAME = re.compile(r"[a-z0-9_]{1,512}")
# A language code as Meta names them: es, en_US, pt_BR...
TEMPLATE_LANGUAGE = re.compile(r"[a-z]{2,3}(_[A-Z]{2})?")
MAX_TEMPLATE_BODY = 1024
MAX_PARAMETER = 1024
# Meta refuses a parameter with a new line, a tab or more than four spaces in a row.
_BAD_PARAMETER = re.compile(r"[\n\t]| {5,}")


def canned_values(lead_name: str | None, profile_name: str | None, business: str) -> dict[str, str]:
    """The variables' values for one conversation: the lead's name, else WhatsApp's profile name."""
    name = (lead_name or profile_name or "").strip()
    return {"name": name, "first_name": name.split(" ", 1)[0], "business": business}


def fill_canned(body: str, values: Mapping[str, str]) -> str:
    return _CANNED.sub(lambda match: values.get(match.group(1), ""), body)


def template_problem(name: str, language: str, body: str, parameters: Sequence[str]) -> str | None:
    """Why the template cannot be stored as given, or None: its body's {{n}} must be 1..N, each
    named once in `parameters`."""
    if not TEMPLATE_NAME.fullmatch(name):
        return "name"
    if not TEMPLATE_LANGUAGE.fullmatch(language):
        return "language"
    if not body.strip() or len(body) > MAX_TEMPLATE_BODY:
        return "body"
    numbers = sorted({int(n) for n in _PLACEHOLDER.findall(body)})
    if numbers != list(range(1, len(numbers) + 1)):
        return "placeholders"
    if len(parameters) != len(numbers) or any(not p.strip() for p in parameters):
        return "parameters"
    return None


def parameter_problem(value: str) -> bool:
    """True when Meta would refuse `value` as a template parameter."""
    return not value.strip() or len(value) > MAX_PARAMETER or bool(_BAD_PARAMETER.search(value))


def template_text(body: str, values: Sequence[str]) -> str:
    """The text the customer reads: {{n}} replaced by the n-th value."""

    def value(match: re.Match[str]) -> str:
        index = int(match.group(1)) - 1
        return values[index] if 0 <= index < len(values) else match.group(0)

    return _PLACEHOLDER.sub(value, body)


def template_payload(name: str, language: str, values: Sequence[str]) -> dict[str, Any]:
    """`details.template` of the outbound row, in the shape the send step sends
    (domain.send_decision.build_request): Meta's name, language code and body parameters."""
    template: dict[str, Any] = {"name": name, "language": language}
    if values:
        template["components"] = [
            {"type": "body", "parameters": [{"type": "text", "text": v} for v in values]}
        ]
    return template
