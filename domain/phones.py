"""Phone number helpers."""


def mask_phone(value: str | None) -> str:
    """Mask a phone number (or any user id) for logs: '+16505551234' -> '+165******34'."""
    if not value:
        return "-"
    prefix, body = ("+", value[1:]) if value.startswith("+") else ("", value)
    # Too short to show any part without revealing most of it.
    if len(body) < 6:
        return prefix + "*" * len(body)
    return prefix + body[:3] + "*" * (len(body) - 5) + body[-2:]
