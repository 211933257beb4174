"""domain.text.visible: what a terminal would act on is written out as an escape."""

import pytest

from domain.text import visible


@pytest.mark.parametrize(
    ("text", "one_line", "multiline"),
    [
        ("¿Cuánto? 😀 مرحبا", "¿Cuánto? 😀 مرحبا", "¿Cuánto? 😀 مرحبا"),
        ("\x1b[2J", "\\x1b[2J", "\\x1b[2J"),
        ("\x1b]0;pwned\x07", "\\x1b]0;pwned\\x07", "\\x1b]0;pwned\\x07"),
        ("\x9b31m", "\\x9b31m", "\\x9b31m"),
        ("\x00\x7f\x85", "\\x00\\x7f\\x85", "\\x00\\x7f\\x85"),
        ("a\nb\tc", "a\\nb\\tc", "a\nb\tc"),
        ("over\rwrite", "over\\rwrite", "over\\rwrite"),
        ("\u202eevil\u202c", "\\u202eevil\\u202c", "\\u202eevil\\u202c"),
        ("\u2066\u2069\u200e\u200f\u061c", "\\u2066\\u2069\\u200e\\u200f\\u061c",
         "\\u2066\\u2069\\u200e\\u200f\\u061c"),
        ("line\u2028para\u2029", "line\\u2028para\\u2029", "line\\u2028para\\u2029"),
        # Invisible but inert: left alone.
        ("a\u200bb\ufeff\u00a0", "a\u200bb\ufeff\u00a0", "a\u200bb\ufeff\u00a0"),
        ("", "", ""),
    ],
    ids=[
        "plain", "clear-screen", "window-title", "c1-csi", "nul-del-nel", "newline-tab",
        "carriage-return", "rtl-override", "bidi-isolates-marks", "unicode-separators", "inert",
        "empty",
    ],
)  # fmt: skip
def test_visible(text: str, one_line: str, multiline: str) -> None:
    assert visible(text) == one_line
    assert visible(text, multiline=True) == multiline


def test_rendering_twice_changes_nothing() -> None:
    once = visible("\x1b[31m\u202e\n\x9b")
    assert visible(once) == once
    assert visible(once, multiline=True) == once


def test_every_c0_and_c1_control_is_rendered() -> None:
    controls = "".join(chr(c) for c in [*range(0x20), 0x7F, *range(0x80, 0xA0)])
    assert visible(controls).isascii()
    assert visible(controls).isprintable()
