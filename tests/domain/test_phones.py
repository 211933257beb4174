"""Masking phone numbers for logs."""

import pytest

from domain.phones import mask_phone


@pytest.mark.parametrize(
    ("value", "masked"),
    [
        ("+16505551234", "+165******34"),
        ("16505551234", "165******34"),
        ("+5511987654321", "+551********21"),
        ("123456", "123*56"),
        ("+123456", "+123*56"),
        ("12345", "*****"),
        ("+12345", "+*****"),
        ("1", "*"),
        ("+", "+"),
        (None, "-"),
        ("", "-"),
    ],
)
def test_mask_phone(value: str | None, masked: str):
    assert mask_phone(value) == masked


def test_masked_value_keeps_length_and_hides_the_middle():
    value = "+16505551234"
    masked = mask_phone(value)
    assert len(masked) == len(value)
    assert "555" not in masked
