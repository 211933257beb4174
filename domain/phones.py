"""Phone number helpers: masking for output and logs, and reading numbers people type."""


def mask_phone(value: str | None) -> str:
    """Mask a phone number (or any user id) for logs: '+16505551234' -> '+165******34'."""
    if not value:
        return "-"
    prefix, body = ("+", value[1:]) if value.startswith("+") else ("", value)
    # Too short to show any part without revealing most of it.
    if len(body) < 6:
        return prefix + "*" * len(body)
    return prefix + body[:3] + "*" * (len(body) - 5) + body[-2:]


# What people type around the digits of a number: "+52 1 55 1234-5678", "(555) 123.4567".
_SEPARATORS = str.maketrans("", "", " -.()/\u00a0")


def normalise_phone(value: str) -> str:
    """A phone number as typed by a person, as the digits WhatsApp ids are made of.

    ValueError when what is left is not an E.164 number: 6 to 15 digits, not starting with 0.
    """
    digits = value.strip().translate(_SEPARATORS).removeprefix("+")
    if not (digits.isascii() and digits.isdigit() and 6 <= len(digits) <= 15) or digits[0] == "0":
        raise ValueError(
            f"{value!r} is not a phone number: give the country code and number, "
            "e.g. +52 1 55 1234 5678"
        )
    return digits
