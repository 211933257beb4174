"""Secrets typed or piped by an operator: checked without ever being quoted back."""

import pytest

from domain.credentials import check_secret


def test_the_line_break_of_a_paste_or_pipe_is_dropped() -> None:
    assert check_secret("access token", "  EAAG123abc\n") == "EAAG123abc"


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("", "is empty"),
        ("\n", "is empty"),
        ("EAAG 123", "contains spaces or control characters"),
        ("EAAG\x1b[2J", "contains spaces or control characters"),
        ("x" * 4097, "is longer than 4096 characters"),
    ],
)
def test_what_cannot_be_a_secret_is_refused_without_quoting_it(value: str, reason: str) -> None:
    with pytest.raises(ValueError) as refused:
        check_secret("access token", value)
    assert str(refused.value).startswith(f"the new access token {reason}")
    assert value.strip() == "" or value.strip()[:8] not in str(refused.value)
