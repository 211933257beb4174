"""The outbound id every send carries (WhatsApp's biz_opaque_callback_data) and its parsing."""

_PREFIX = "recado:"


def callback_data(message_id: int) -> str:
    return f"{_PREFIX}{message_id}"


def parse_callback_data(value: str | None) -> int | None:
    """Our outbound message id, or None for data we did not write."""
    if not value or not value.startswith(_PREFIX):
        return None
    digits = value.removeprefix(_PREFIX)
    return int(digits) if digits.isascii() and digits.isdigit() else None
