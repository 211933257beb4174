"""Masking phone numbers for logs."""

import pytest

from domain.phones import mask_phone, normalise_phone


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


@pytest.mark.parametrize(
    ("typed", "digits"),
    [
        ("5215512345678", "5215512345678"),
        ("+52 1 55 1234 5678", "5215512345678"),
        (" +1 (650) 555-1234 ", "16505551234"),
        ("+44.20.7946.0958", "442079460958"),
    ],
)
def test_normalise_phone_keeps_only_the_digits(typed: str, digits: str):
    assert normalise_phone(typed) == digits


@pytest.mark.parametrize(
    "typed",
    ["", "+", "12345", "0551234567", "5215512345678901", "52 55 abc 5678", "\uff15" * 9],
)
def test_normalise_phone_refuses_what_is_not_a_number(typed: str):
    with pytest.raises(ValueError, match="is not a phone number"):
        normalise_phone(typed)
